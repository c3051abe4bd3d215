"""Reading a network spec back from the JSON kept in OVS."""

from __future__ import annotations

import pytest

from dovesnap.errors import BackendError
from dovesnap.model.codec import spec_from_json


@pytest.mark.parametrize("text", ["", "{}", "[]", '{"controllers": 1}', "not json"])
def test_spec_from_bad_json_is_a_backend_error(text: str) -> None:
    with pytest.raises(BackendError):
        spec_from_json(text)
