"""One module of routes per area."""

# `openapi_extra` for a POST, PUT, PATCH or DELETE that changes nothing lasting (it computes,
# or enqueues work on data of its own): `fastscaffold check` then calls it against any
# database. Other writes it sends only to a throwaway database of its own.
SAFE_TO_CALL = {"x-fastscaffold-safe": True}
