"""Every registered teacher passes the shared conformance suite."""

from __future__ import annotations

import pytest

import magister as mg
from magister.testing import teacher_checks


def _cases():
    for name in mg.available_teachers():
        cls = mg.teacher_class(name)
        kwargs = dict(getattr(cls, "conformance_kwargs", {}))

        def factory(space, seed, cls=cls, kwargs=kwargs):
            return cls(space, seed=seed, **kwargs)

        for check_name, check in teacher_checks(factory, cls.kind):
            yield pytest.param(check, id=f"{name}-{check_name}")


@pytest.mark.parametrize("check", list(_cases()))
def test_conformance(check):
    check()
