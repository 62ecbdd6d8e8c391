"""The API description agrees with the validation: same fields, types, bounds, required-ness, and
only error codes the server has. Boundary values read from the document go to both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from comments import config as settings
from comments import validate
from comments.errors import CODES, Problem
from comments.openapi import openapi_document
from comments.validate import Field
from tests.helpers import SECRET

MAX_LENGTH = 300  # not the default: the document must show the configured length

# operation -> (the declarations, the validator of its body)
REQUESTS: dict[tuple[str, str], tuple[tuple[Field, ...], Callable[[dict], Any]]] = {
    ("/api/comments", "post"): (
        validate.SUBMISSION_FIELDS,
        lambda data: validate.submission(data, MAX_LENGTH),
    ),
    ("/api/comments/{comment_id}", "patch"): (
        validate.EDIT_FIELDS,
        lambda data: validate.edit(data, MAX_LENGTH),
    ),
    ("/api/comments/{comment_id}/report", "post"): (validate.REPORT_FIELDS, validate.report),
    ("/api/counts", "post"): (validate.COUNT_FIELDS, validate.count_uris),
    ("/api/preview", "post"): (
        validate.PREVIEW_FIELDS,
        lambda data: validate.preview(data, MAX_LENGTH),
    ),
}
# A valid value of each field, to fill the required ones and to build values of a length.
VALID = {"uri": "/p/", "text": "x", "uris": ["/p/"], "notify": True, "parent": 1}
CASES = [(operation, field) for operation, (fields, _) in REQUESTS.items() for field in fields]
CASE_IDS = [f"{method}-{path}-{field.name}" for (path, method), field in CASES]


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict:
    config = settings.load(
        {
            "COMMENTS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
            "COMMENTS_SECRET_KEY": SECRET,
            "COMMENTS_MAX_LENGTH": str(MAX_LENGTH),
        }
    )
    return openapi_document(config)


def body_schema(document: dict, operation: tuple[str, str]) -> dict:
    path, method = operation
    return document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def schema_validator(schema: dict):
    try:
        import jsonschema_rs  # comes with schemathesis
    except ImportError:
        pytest.skip("jsonschema_rs not installed (pip install -e '.[test]')")
    return jsonschema_rs.validator_for(schema)


def of_length(name: str, length: int) -> str:
    """A value of `name` that is valid but for its length."""
    if name == "email":
        return "a" * (length - 10) + "@b.example"
    if name == "website":
        return "https://" + "a" * (length - 8)
    if name == "uri":
        return "/" + "a" * (length - 1)
    return "a" * length


def body(fields: tuple[Field, ...], **values: Any) -> dict:
    required = {field.name: VALID[field.name] for field in fields if field.required}
    return {**required, **values}


def assert_refused(validator: Callable, data: dict, code: str, field: str) -> None:
    with pytest.raises(Problem) as refused:
        validator(data)
    assert (refused.value.code, refused.value.field) == (code, field)


@pytest.mark.parametrize("operation", REQUESTS, ids="-".join)
def test_every_declared_field_and_no_other_is_documented(document, operation):
    fields, validator = REQUESTS[operation]
    schema = body_schema(document, operation)
    assert set(schema["properties"]) == {field.name for field in fields}
    assert set(schema["required"]) == {field.name for field in fields if field.required}
    assert schema["additionalProperties"] is False
    assert_refused(validator, body(fields, nonsense=1), "unknown_field", "nonsense")
    assert not schema_validator(schema).is_valid(body(fields, nonsense=1))


@pytest.mark.parametrize("operation, field", CASES, ids=CASE_IDS)
def test_documented_bounds_are_the_validators(document, operation, field):
    fields, validator = REQUESTS[operation]
    documented = body_schema(document, operation)["properties"][field.name]
    is_valid = schema_validator(body_schema(document, operation)).is_valid
    longest = documented.get("maxLength", documented.get("maxItems"))
    if field.type in ("string", "array"):
        assert longest == field.limit(MAX_LENGTH)
    if longest is not None:
        make = (
            (lambda n: ["/p/"] * n) if field.type == "array" else lambda n: of_length(field.name, n)
        )
        at_most, too_long = body(fields, **{field.name: make(longest)}), make(longest + 1)
        validator(at_most)
        assert is_valid(at_most)
        assert_refused(
            validator, body(fields, **{field.name: too_long}), field.too_long, field.name
        )
        assert not is_valid(body(fields, **{field.name: too_long}))
    for bound, step in (("maximum", 1), ("minimum", -1)):
        if bound in documented:
            assert documented[bound] == getattr(field, bound)
            validator(body(fields, **{field.name: documented[bound]}))
            past = body(fields, **{field.name: documented[bound] + step})
            assert_refused(validator, past, "field_invalid", field.name)
            assert not is_valid(past)


@pytest.mark.parametrize("operation, field", CASES, ids=CASE_IDS)
def test_documented_types_and_required_ness_are_the_validators(document, operation, field):
    fields, validator = REQUESTS[operation]
    is_valid = schema_validator(body_schema(document, operation)).is_valid
    wrong = {"string": 5, "integer": "1", "boolean": "yes", "array": "/p/"}[field.type]
    assert_refused(validator, body(fields, **{field.name: wrong}), "field_invalid", field.name)
    assert not is_valid(body(fields, **{field.name: wrong}))
    with_null = body(fields, **{field.name: None})
    assert is_valid(with_null) == field.nullable
    if field.nullable:
        validator(with_null)
    if field.required:
        missing = {key: value for key, value in body(fields).items() if key != field.name}
        assert_refused(validator, missing, "field_required", field.name)
        assert not is_valid(missing)
    else:
        validator(body(fields))
        assert is_valid(body(fields))


def test_thread_query_is_documented_as_validated(document):
    parameters = {p["name"]: p for p in document["paths"]["/api/threads"]["get"]["parameters"]}
    assert list(parameters) == [field.name for field in validate.THREAD_PARAMS]
    assert [name for name, p in parameters.items() if p["required"]] == ["uri"]

    def refused(**params: str) -> str | None:
        try:
            validate.thread_query({"uri": "/p/", **params})
        except Problem as problem:
            assert problem.code == "invalid_parameter"
            return problem.field
        return None

    limit = parameters["limit"]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, validate.MAX_PAGE)
    assert refused(limit=str(limit["maximum"])) is None
    assert refused(limit=str(limit["minimum"])) is None
    assert refused(limit=str(limit["maximum"] + 1)) == "limit"
    assert refused(limit=str(limit["minimum"] - 1)) == "limit"
    assert all(refused(sort=sort) is None for sort in parameters["sort"]["schema"]["enum"])
    assert refused(sort="random") == "sort"
    around = parameters["around"]["schema"]
    assert (around["type"], around["minimum"]) == ("integer", 1)
    assert refused(around=str(around["maximum"])) is None
    assert refused(around=str(around["maximum"] + 1)) == "around"
    assert refused(around="5", before="x") == "around"
    longest = parameters["uri"]["schema"]["maxLength"]
    assert refused(uri=of_length("uri", longest)) is None
    assert refused(uri=of_length("uri", longest + 1)) == "uri"
    assert refused(uri="") == "uri"


def documented_problems(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/problem+json")
                if content:
                    codes = content["schema"]["allOf"][1]["properties"]["code"]["enum"]
                    yield f"{method} {path}", int(status), codes


def test_every_documented_code_exists_with_its_status(document):
    listed = list(documented_problems(document))
    assert listed
    for operation, status, codes in listed:
        assert codes, operation
        for code in codes:
            assert code in CODES, (operation, code)
            assert CODES[code][0] == status, (operation, code)
    problem = document["components"]["schemas"]["Problem"]
    assert problem["properties"]["code"]["enum"] == sorted(CODES)


def test_each_body_documents_the_codes_its_fields_can_raise(document):
    for operation, (fields, _) in REQUESTS.items():
        codes = {
            code
            for name, status, listed in documented_problems(document)
            if name == f"{operation[1]} {operation[0]}"
            for code in listed
        }
        assert {"invalid_json", "unknown_field", "field_invalid"} <= codes, operation
        assert {field.too_long for field in fields if field.limit(MAX_LENGTH)} <= codes
        assert {code for field in fields for code in field.codes} <= codes
        assert ("field_required" in codes) == any(field.required for field in fields)
