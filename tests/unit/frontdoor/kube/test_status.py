"""Status errors in kube-apiserver's words."""

from __future__ import annotations

from shoal.frontdoor.kube import status


def test_not_found_names_the_resource_and_group() -> None:
    code, body = status.not_found("pods", "", "x")
    assert code == 404
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'pods "x" not found', "reason": "NotFound",
                    "details": {"name": "x", "kind": "pods"}, "code": 404}
    code, body = status.not_found("deployments", "apps", "mydep")
    assert body["message"] == 'deployments.apps "mydep" not found'
    assert body["details"] == {"name": "mydep", "group": "apps", "kind": "deployments"}


def test_conflicts() -> None:
    code, body = status.already_exists("secrets", "", "s")
    assert (code, body["reason"], body["message"]) == (409, "AlreadyExists", 'secrets "s" already exists')
    code, body = status.conflict("pods", "", "x")
    assert (code, body["reason"]) == (409, "Conflict")
    assert body["message"] == ('Operation cannot be fulfilled on pods "x": the object has been modified; please '
                               'apply your changes to the latest version and try again')


def test_invalid_one_and_several_causes() -> None:
    code, body = status.invalid("Pod", "x", [("spec.containers[0].image", "FieldValueRequired", "")])
    assert code == 422 and body["reason"] == "Invalid"
    assert body["message"] == 'Pod "x" is invalid: spec.containers[0].image: Required value'
    assert body["details"] == {"name": "x", "kind": "Pod", "causes": [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"}]}
    _, body = status.invalid("Service", "web", [
        ("spec.ports[0].nodePort", "FieldValueInvalid", status.with_value(30080, "provided port is already allocated")),
        ("metadata.name", "FieldValueInvalid", status.with_value("Web", "a lowercase RFC 1123 label must …")),
    ])
    assert body["message"] == ('Service "web" is invalid: [spec.ports[0].nodePort: Invalid value: 30080: provided '
                               'port is already allocated, metadata.name: Invalid value: "Web": a lowercase RFC '
                               '1123 label must …]')
    _, body = status.invalid("Deployment", "d", [("spec.replicas", "FieldValueInvalid", "-1: must be >= 0")],
                             group="apps")
    assert body["message"].startswith('Deployment.apps "d" is invalid: ')
    assert body["details"]["group"] == "apps"


def test_request_errors() -> None:
    code, body = status.unsupported_media_type("text/plain")
    assert code == 415 and body["reason"] == "UnsupportedMediaType"
    assert body["message"].startswith("the body of the request was in an unknown format - accepted media types "
                                      "include: application/json, application/yaml")
    code, body = status.cannot_handle("Pod", "v1", 'strict decoding error: unknown field "spec.foo"')
    assert (code, body["reason"]) == (400, "BadRequest")
    assert body["message"] == 'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown ' \
                              'field "spec.foo"'
    assert status.cannot_handle("Deployment", "apps/v1", "x")[1]["message"].startswith(
        'Deployment in version "v1" cannot')
    code, body = status.method_not_allowed("nodes", "", "deletecollection")
    assert code == 405 and body["message"] == 'deletecollection is not supported on resources of kind "nodes"'


def test_server_errors() -> None:
    assert status.unauthorized() == (401, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                           "status": "Failure", "message": "Unauthorized",
                                           "reason": "Unauthorized", "code": 401})
    code, body = status.forbidden("pods", "", "", 'User "system:anonymous" cannot list resource "pods" in API '
                                  'group "" in the namespace "default"')
    assert code == 403 and body["message"].startswith('pods is forbidden: User "system:anonymous"')
    code, body = status.gone(5, 12)
    assert (code, body["reason"], body["message"]) == (410, "Expired", "too old resource version: 5 (12)")
    code, body = status.internal("boom")
    assert (code, body["message"], body["details"]) == (500, "Internal error occurred: boom",
                                                        {"causes": [{"message": "boom"}]})
    assert status.service_unavailable("no leader")[0] == 503
    code, body = status.route_not_found()
    assert (code, body["message"], body["details"]) == (404, "the server could not find the requested resource", {})
    assert status.not_acceptable(("application/json",))[0] == 406
