"""The error family: rooted in pysavedmodel.Error and in the matching builtins."""

from __future__ import annotations

import pytest

from pysavedmodel import errors


@pytest.mark.parametrize("cls, builtin", [
    (errors.InvalidArgumentError, ValueError),
    (errors.UnsupportedDTypeError, TypeError),
    (errors.NotFoundError, KeyError),
    (errors.NotFoundError, FileNotFoundError),
    (errors.AlreadyExistsError, FileExistsError),
    (errors.CorruptCheckpointError, ValueError),
    (errors.ChecksumError, errors.CorruptCheckpointError),
    (errors.OpError, errors.GraphError),
    (errors.SignatureError, ValueError),
    (errors.BuilderStateError, RuntimeError),
])
def test_every_error_is_an_error_and_its_builtin(cls: type, builtin: type) -> None:
    assert issubclass(cls, errors.Error)
    assert issubclass(cls, builtin)


def test_not_found_message_is_not_quoted_like_keyerror() -> None:
    assert str(errors.NotFoundError("no tensor 'x' in a.index")) == "no tensor 'x' in a.index"


def test_all_exported_from_package() -> None:
    import pysavedmodel

    for name in errors.__all__:
        assert getattr(pysavedmodel, name) is getattr(errors, name)


_NATURAL_BUILTINS = (ValueError, TypeError, KeyError, FileExistsError, FileNotFoundError,
                     ImportError, RuntimeError, OSError)


@pytest.mark.parametrize("name", [n for n in errors.__all__ if n != "Error"])
def test_every_subclass_has_a_natural_builtin(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.Error)
    assert issubclass(cls, _NATURAL_BUILTINS), f"{name} is only an Exception"


def test_the_catalogue_raises_every_error_class() -> None:
    """Each class of the family is what some bad input in the catalogue raises."""
    from tests.test_error_catalogue import CASES

    raised = {case.error for case in CASES}
    unused = [n for n in errors.__all__ if n != "Error" and getattr(errors, n) not in raised]
    assert unused == []
