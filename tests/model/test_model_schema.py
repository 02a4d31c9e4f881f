"""`lbsync schema`: the JSON Schema that editors use and that validate.py interprets — one source, same verdicts."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from support.cli import run_cli
from support.paths import ROOT  # noqa: E402

from lbsync.errors import LbsyncError
from lbsync.model import load_model
from lbsync.model.schema import SCHEMA

PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))
CORPUS = ROOT / "tests" / "bad_models"

# Keywords lbsync's schema uses (checked by jsonschema at run time, model/schemacheck.py), and annotations that only
# editors read.
INTERPRETED = {"type", "properties", "additionalProperties", "required", "const", "enum", "items", "minItems",
               "uniqueItems", "minimum", "maximum", "pattern", "format", "minLength", "propertyNames"}
ANNOTATIONS = {"$schema", "$id", "title", "description", "default", "patternErrorMessage"}


@pytest.fixture(scope="module")
def printed() -> dict:
    ran = run_cli("schema")   # in this process: the same command and output
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


@pytest.fixture(scope="module")
def validate(printed):
    """jsonschema.validate(instance, printed), the schema checked once instead of on every call."""
    cls = jsonschema.validators.validator_for(printed)
    cls.check_schema(printed)
    validator = cls(printed)

    def check(instance) -> None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error
    return check


def test_printed_schema_is_the_library_schema(printed):
    assert printed == json.loads(json.dumps(SCHEMA))
    jsonschema.Draft7Validator.check_schema(printed)
    assert printed["$schema"] == "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profiles_validate_with_jsonschema_and_lbsync(validate, profile):
    validate(yaml.safe_load(profile.read_text()))
    load_model(profile)


# Bad models both validators must refuse (the cross-field ones — duplicates by field, VIP conflicts — are
# beyond JSON Schema and checked by lbsync alone).
BOTH = ["unknown_key_top.yaml", "unknown_key_deep.yaml", "unknown_key_target.yaml", "bad_enum_tls_mode.yaml",
        "bad_enum_exchange_version.yaml", "port_out_of_range.yaml", "port_zero.yaml", "wrong_type_port.yaml",
        "wrong_type_bool.yaml", "empty_servers.yaml", "empty_services.yaml", "version_2.yaml",
        "version_missing.yaml", "dup_service_in_namespace.yaml", "bad_env_name.yaml", "invalid_server_name.yaml",
        "bad_duration.yaml", "unknown_service_tls.yaml", "service_mrsproxy_key.yaml", "null_value.yaml",
        "auth_rpc.yaml", "auth_forms_ews.yaml", "group_bad_version.yaml", "group_bad_name.yaml"]


@pytest.mark.parametrize("name", BOTH)
def test_bad_models_refused_by_both(validate, name):
    data = yaml.safe_load((CORPUS / name).read_text())
    with pytest.raises(jsonschema.ValidationError):
        validate(data)
    with pytest.raises(LbsyncError):
        load_model(CORPUS / name)


def _walk(schema, path="#"):
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}/properties/{key}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}/items")
    for key in ("additionalProperties", "propertyNames"):  # groups: a map of name -> group
        if isinstance(schema.get(key), dict):
            yield from _walk(schema[key], f"{path}/{key}")


def test_every_keyword_is_interpreted_or_an_annotation():
    for path, node in _walk(SCHEMA):
        unknown = set(node) - INTERPRETED - ANNOTATIONS
        assert not unknown, f"{path}: validate.py does not interpret {unknown}"


def test_every_key_is_described_for_editors():
    """Editors show `description` on hover; per-service maps (tls.services.owa, ...) describe the map instead."""
    from lbsync.model.schema import MAIL, SERVICES
    for path, node in _walk(SCHEMA):
        parts = path.split("/")
        per_service = parts[-1] in SERVICES or (parts[-1] in MAIL and "services" in parts)
        if len(parts) >= 3 and parts[-2] == "properties" and not per_service:
            assert node.get("description"), f"{path} has no description"


def test_every_mapping_refuses_unknown_keys():
    for path, node in _walk(SCHEMA):
        if node.get("type") == "object":
            # a map of user-chosen names (groups:) constrains its keys with propertyNames and its values by schema
            assert node.get("additionalProperties") is False or (
                "propertyNames" in node and isinstance(node["additionalProperties"], dict)), path


def test_pattern_messages_exist_where_patterns_do():
    for path, node in _walk(SCHEMA):
        if "pattern" in node:
            assert node.get("patternErrorMessage"), path


def test_documented_defaults_are_the_model_defaults():
    """The `default` an editor shows on hover is what lbsync fills in."""
    from lbsync.model.types import F5Target, HaproxyTarget, HealthSettings, NginxTarget, Tls
    props = SCHEMA["properties"]
    assert props["tls"]["properties"]["default"]["default"] == Tls().default
    assert props["tls"]["properties"]["profile"]["default"] == Tls().profile
    assert props["health"]["properties"]["fall"]["default"] == HealthSettings().fall
    assert props["health"]["properties"]["rise"]["default"] == HealthSettings().rise
    assert props["health"]["properties"]["interval"]["default"] == f"{HealthSettings().interval_ms // 1000}s"
    assert props["health"]["properties"]["timeout"]["default"] == f"{HealthSettings().timeout_ms // 1000}s"
    targets = props["targets"]["properties"]
    assert targets["haproxy"]["properties"]["cert_path"]["default"] == HaproxyTarget().cert_path
    assert targets["nginx"]["properties"]["cert_path"]["default"] == NginxTarget().cert_path
    assert targets["nginx"]["properties"]["key_path"]["default"] == NginxTarget().key_path
    f5 = targets["f5"]["properties"]
    assert (f5["partition"]["default"], f5["username_env"]["default"], f5["password_env"]["default"]) == \
        (F5Target().partition, F5Target().username_env, F5Target().password_env)
