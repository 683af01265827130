"""Typed accessors for the worker's database handle."""

from typing import Annotated, cast

from fastapi import Depends, Request

from app.db.database import Database, ItemRepository


async def get_db(request: Request) -> Database:
    """The worker's database handle."""
    return cast(Database, request.state.db)


async def get_items(request: Request) -> ItemRepository:
    """The worker's items repository (each operation borrows a connection while it runs)."""
    return cast(Database, request.state.db).items


DatabaseDep = Annotated[Database, Depends(get_db)]
ItemsDep = Annotated[ItemRepository, Depends(get_items)]
