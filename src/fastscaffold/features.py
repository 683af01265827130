"""`fastscaffold add` and `remove`: a feature by name, and the answer that adds or removes it.

The features come from copier.yml: a yes/no question is one (`examples`), and so is each value
of a question that can be `none` (`taskiq`, `postgres`, `gitlab`) or of a multiselect one
(`docker`, `kubernetes`). Other answers (the server, the worker count) change with `set`.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from fastscaffold import options
from fastscaffold.errors import FeatureClashError, UnknownFeatureError


@dataclass(frozen=True)
class Feature:
    """A feature: the question it answers and, for a choice, the value that means it."""

    name: str
    question: options.Question

    def present(self, answers: Mapping[str, object]) -> bool:
        """Whether the project answered the question with this feature."""
        answer = answers.get(self.question.name)
        if self.question.type == "bool":
            return answer is True
        if self.question.multiselect:
            return isinstance(answer, list) and self.name in answer
        return answer == self.name

    def answer(
        self, answers: Mapping[str, object], *, add: bool, project: Mapping[str, object]
    ) -> object:
        """The question's answer once this feature is added (or removed) to `answers`, which
        hold the `project`'s own answers and those an earlier name of the same command gave."""
        name = self.question.name
        if self.question.type == "bool":
            return add
        if self.question.multiselect:
            have = answers.get(name)
            chosen = [c for c in have if c != self.name] if isinstance(have, list) else []
            return [
                c for c in self.question.choices or () if c in chosen or (add and c == self.name)
            ]
        current = answers.get(name)
        if add and current not in (None, "none"):
            asked = current != project.get(name)
            raise FeatureClashError(
                feature=self.name, question=name, current=str(current), asked=asked
            )
        return self.name if add else "none"


def _features() -> Iterator[Feature]:
    for question in options.questions():
        if question.type == "bool":
            yield Feature(question.name, question)
        elif question.choices and (question.multiselect or "none" in question.choices):
            yield from (Feature(c, question) for c in question.choices if c != "none")


def names() -> list[str]:
    """Every feature `add` and `remove` know, in copier.yml's order."""
    return [feature.name for feature in _features()]


def find(name: str, *, add: bool = True) -> Feature:
    """The feature called `name`; a value of another question points to `set`."""
    for feature in _features():
        if feature.name == name:
            return feature
    owners = [q for q in options.questions() if name in (q.choices or ()) and name != "none"]
    raise UnknownFeatureError(
        name=name, known=names(), question=owners[0].name if owners else None, add=add
    )


def change(
    answers: Mapping[str, object], name: str, *, add: bool, project: Mapping[str, object]
) -> tuple[str, object] | None:
    """The question and answer that add or remove feature `name` (see `Feature.answer`), or
    None when `answers` already have it (for `add`) or do not (for `remove`)."""
    feature = find(name, add=add)
    if feature.present(answers) == add:
        return None
    return feature.question.name, feature.answer(answers, add=add, project=project)
