"""Kubernetes' JSON shapes (meta/v1, core/v1, policy/v1 Eviction) as msgspec Structs, and their decoders.

Attribute names are Kubernetes' JSON names (camelCase). Every field is optional (``X | None = None``),
as Go's decoder never requires one: missing values are the validators' business, which answer 422
with Kubernetes' words. Structs omit defaults when encoded, which gives Go's ``omitempty`` output.

The schema markers Kubernetes puts on its Go types travel with the fields, so ``openapi.py`` builds
the OpenAPI v3 document from these Structs alone:

- ``description``: the first sentence of Kubernetes' field documentation (``kubectl explain`` shows it);
- list strategies (``x-kubernetes-patch-merge-key``/``-patch-strategy``/``-list-type``/``-list-map-keys``),
  which client-side apply (and a strategic merge patch) use to merge lists element by element;
- the titles ``Time``, ``MicroTime``, ``IntOrString``, ``Quantity``, ``FieldsV1`` and ``RawExtension``
  mark the fields that Kubernetes types with those apimachinery schemas.

``decoder(typ, strict)`` gives a cached decoder; a strict one (``fieldValidation=Strict``) also rejects
unknown and repeated fields, all of them at once, in Kubernetes' words: ``strict decoding error: unknown
field "spec.foo", unknown field "spec.bar", duplicate field "spec.replicas"``. ``unknown_fields`` and
``field_problems`` give the same lists for ``Warn``.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from msgspec import Meta

T = TypeVar("T")

# apimachinery's scalar types; the titles are replaced by references to their schemas in openapi.py.
Time = Annotated[str, Meta(title="Time")]
MicroTime = Annotated[str, Meta(title="MicroTime")]
IntOrString = Annotated[int | str, Meta(title="IntOrString")]
Quantity = Annotated[str | int, Meta(title="Quantity")]
FieldsV1 = Annotated[Any, Meta(title="FieldsV1")]
RawExtension = Annotated[Any, Meta(title="RawExtension")]


def doc(description: str, **extensions: Any) -> Meta:
    """A field's description, with extra schema keys (``x_kubernetes_list_type`` -> ``x-kubernetes-list-type``)."""
    extra = {key.replace("_", "-"): value for key, value in extensions.items()}
    return Meta(description=description, extra_json_schema=extra or None)


def kept(description: str) -> Meta:
    """A field kept as given (an object the front door does not look into)."""
    return doc(description, type="object")


def map_list(description: str, *keys: str, strategy: str = "merge") -> Meta:
    """A list merged element by element, matched on ``keys`` (the first one is the patch merge key)."""
    return doc(description, x_kubernetes_list_type="map", x_kubernetes_list_map_keys=list(keys),
               x_kubernetes_patch_merge_key=keys[0], x_kubernetes_patch_strategy=strategy)


def atomic_list(description: str) -> Meta:
    """A list replaced as a whole (no patch strategy)."""
    return doc(description, x_kubernetes_list_type="atomic")


def set_list(description: str) -> Meta:
    """A list of scalars merged as a set (``finalizers``, ``podCIDRs``)."""
    return doc(description, x_kubernetes_list_type="set", x_kubernetes_patch_strategy="merge")


class Base(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The base of every Kubernetes shape: defaults are omitted when encoded, fields are keywords."""


# ---------------------------------------------------------------------------------------------------
# meta/v1

class OwnerReference(Base, kw_only=True):
    """OwnerReference contains enough information to let you identify an owning object."""

    apiVersion: Annotated[str | None, doc("API version of the referent.")] = None
    kind: Annotated[str | None, doc("Kind of the referent.")] = None
    name: Annotated[str | None, doc("Name of the referent.")] = None
    uid: Annotated[str | None, doc("UID of the referent.")] = None
    controller: Annotated[bool | None, doc("If true, this reference points to the managing controller.")] = None
    blockOwnerDeletion: Annotated[bool | None, doc(
        "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the owner cannot be deleted "
        "from the key-value store until this reference is removed.")] = None


class ManagedFieldsEntry(Base, kw_only=True):
    """ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the
    fieldset applies to."""

    manager: Annotated[str | None, doc("Manager is an identifier of the workflow managing these fields.")] = None
    operation: Annotated[str | None, doc(
        "Operation is the type of operation which lead to this ManagedFieldsEntry being created.")] = None
    apiVersion: Annotated[str | None, doc(
        "APIVersion defines the version of this resource that this field set applies to.")] = None
    time: Annotated[Time | None, doc(
        "Time is the timestamp of when the ManagedFields entry was added.")] = None
    fieldsType: Annotated[str | None, doc(
        "FieldsType is the discriminator for the different fields format and version.")] = None
    fieldsV1: Annotated[FieldsV1 | None, doc(
        "FieldsV1 holds the first JSON version format as described in the \"FieldsV1\" type.")] = None
    subresource: Annotated[str | None, doc(
        "Subresource is the name of the subresource used to update that object, or empty string if the "
        "object was updated through the main resource.")] = None


class ObjectMeta(Base, kw_only=True):
    """ObjectMeta is metadata that all persisted resources must have, which includes all objects users
    must create."""

    name: Annotated[str | None, doc("Name must be unique within a namespace.")] = None
    generateName: Annotated[str | None, doc(
        "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name "
        "field has not been provided.")] = None
    namespace: Annotated[str | None, doc(
        "Namespace defines the space within which each name must be unique.")] = None
    selfLink: Annotated[str | None, doc(
        "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.")] = None
    uid: Annotated[str | None, doc(
        "UID is the unique in time and space value for this object.")] = None
    resourceVersion: Annotated[str | None, doc(
        "An opaque value that represents the internal version of this object that can be used by clients "
        "to determine when objects have changed.")] = None
    generation: Annotated[int | None, doc(
        "A sequence number representing a specific generation of the desired state.")] = None
    creationTimestamp: Annotated[Time | None, doc(
        "CreationTimestamp is a timestamp representing the server time when this object was created.")] = None
    deletionTimestamp: Annotated[Time | None, doc(
        "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.")] = None
    deletionGracePeriodSeconds: Annotated[int | None, doc(
        "Number of seconds allowed for this object to gracefully terminate before it will be removed from "
        "the system.")] = None
    labels: Annotated[dict[str, str] | None, doc(
        "Map of string keys and values that can be used to organize and categorize (scope and select) "
        "objects.")] = None
    annotations: Annotated[dict[str, str] | None, doc(
        "Annotations is an unstructured key value map stored with a resource that may be set by external "
        "tools to store and retrieve arbitrary metadata.")] = None
    ownerReferences: Annotated[list[OwnerReference] | None, map_list(
        "List of objects depended by this object.", "uid")] = None
    finalizers: Annotated[list[str] | None, set_list(
        "Must be empty before the object is deleted from the registry.")] = None
    managedFields: Annotated[list[ManagedFieldsEntry] | None, atomic_list(
        "ManagedFields maps workflow-id and version to the set of fields that are managed by that "
        "workflow.")] = None


class ListMeta(Base, kw_only=True):
    """ListMeta describes metadata that synthetic resources must have, including lists."""

    resourceVersion: Annotated[str | None, doc(
        "String that identifies the server's internal version of this object.")] = None
    # ``continue`` is a keyword: the attribute is renamed, the JSON name stays.
    continue_: Annotated[str | None, doc(
        "continue may be set if the user set a limit on the number of items returned.")] = msgspec.field(
            default=None, name="continue")
    remainingItemCount: Annotated[int | None, doc(
        "remainingItemCount is the number of subsequent items in the list which are not included in this "
        "list response.")] = None


class LabelSelectorRequirement(Base, kw_only=True):
    """A label selector requirement is a selector that contains values, a key, and an operator that relates
    the key and values."""

    key: Annotated[str | None, doc("key is the label key that the selector applies to.")] = None
    operator: Annotated[str | None, doc(
        "operator represents a key's relationship to a set of values.")] = None
    values: Annotated[list[str] | None, atomic_list("values is an array of string values.")] = None


class LabelSelector(Base, kw_only=True):
    """A label selector is a label query over a set of resources."""

    matchLabels: Annotated[dict[str, str] | None, doc("matchLabels is a map of {key,value} pairs.")] = None
    matchExpressions: Annotated[list[LabelSelectorRequirement] | None, atomic_list(
        "matchExpressions is a list of label selector requirements.")] = None


class StatusCause(Base, kw_only=True):
    """StatusCause provides more information about an api.Status failure, including cases when multiple
    errors are encountered."""

    reason: Annotated[str | None, doc("A machine-readable description of the cause of the error.")] = None
    message: Annotated[str | None, doc("A human-readable description of the cause of the error.")] = None
    field: Annotated[str | None, doc(
        "The field of the resource that has caused this error, as named by its JSON serialization.")] = None


class StatusDetails(Base, kw_only=True):
    """StatusDetails is a set of additional properties that MAY be set by the server to provide additional
    information about a response."""

    name: Annotated[str | None, doc(
        "The name attribute of the resource associated with the status StatusReason (when there is a single "
        "name which can be described).")] = None
    group: Annotated[str | None, doc(
        "The group attribute of the resource associated with the status StatusReason.")] = None
    kind: Annotated[str | None, doc(
        "The kind attribute of the resource associated with the status StatusReason.")] = None
    uid: Annotated[str | None, doc("UID of the resource.")] = None
    causes: Annotated[list[StatusCause] | None, atomic_list(
        "The Causes array includes more details associated with the StatusReason failure.")] = None
    retryAfterSeconds: Annotated[int | None, doc(
        "If specified, the time in seconds before the operation should be retried.")] = None


class Status(Base, kw_only=True):
    """Status is a return value for calls that don't return other objects."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, doc("Standard list metadata.")] = None
    status: Annotated[str | None, doc(
        "Status of the operation. One of: \"Success\" or \"Failure\".")] = None
    message: Annotated[str | None, doc("A human-readable description of the status of this operation.")] = None
    reason: Annotated[str | None, doc(
        "A machine-readable description of why this operation is in the \"Failure\" status.")] = None
    details: Annotated[StatusDetails | None, doc(
        "Extended data associated with the reason.")] = None
    code: Annotated[int | None, doc("Suggested HTTP return code for this status, 0 if not set.")] = None


class Preconditions(Base, kw_only=True):
    """Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out."""

    uid: Annotated[str | None, doc("Specifies the target UID.")] = None
    resourceVersion: Annotated[str | None, doc("Specifies the target ResourceVersion")] = None


class DeleteOptions(Base, kw_only=True):
    """DeleteOptions may be provided when deleting an API object."""

    kind: str | None = None
    apiVersion: str | None = None
    gracePeriodSeconds: Annotated[int | None, doc(
        "The duration in seconds before the object should be deleted.")] = None
    preconditions: Annotated[Preconditions | None, doc(
        "Must be fulfilled before a deletion is carried out.")] = None
    orphanDependents: Annotated[bool | None, doc(
        "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7.")] = None
    propagationPolicy: Annotated[str | None, doc(
        "Whether and how garbage collection will be performed.")] = None
    dryRun: Annotated[list[str] | None, atomic_list(
        "When present, indicates that modifications should not be persisted.")] = None


class WatchEvent(Base, kw_only=True):
    """Event represents a single event to a watched resource."""

    type: str | None = None
    object: RawExtension | None = None


# ---------------------------------------------------------------------------------------------------
# core/v1: references and selectors shared by several kinds

class LocalObjectReference(Base, kw_only=True):
    """LocalObjectReference contains enough information to let you locate the referenced object inside the
    same namespace."""

    name: Annotated[str | None, doc("Name of the referent.")] = None


class ObjectReference(Base, kw_only=True):
    """ObjectReference contains enough information to let you inspect or modify the referred object."""

    kind: Annotated[str | None, doc("Kind of the referent.")] = None
    namespace: Annotated[str | None, doc("Namespace of the referent.")] = None
    name: Annotated[str | None, doc("Name of the referent.")] = None
    uid: Annotated[str | None, doc("UID of the referent.")] = None
    apiVersion: Annotated[str | None, doc("API version of the referent.")] = None
    resourceVersion: Annotated[str | None, doc(
        "Specific resourceVersion to which this reference is made, if any.")] = None
    fieldPath: Annotated[str | None, doc(
        "If referring to a piece of an object instead of an entire object, this string should contain a valid "
        "JSON/Go field access statement, such as desiredState.manifest.containers[2].")] = None


class ObjectFieldSelector(Base, kw_only=True):
    """ObjectFieldSelector selects an APIVersioned field of an object."""

    apiVersion: Annotated[str | None, doc(
        "Version of the schema the FieldPath is written in terms of, defaults to \"v1\".")] = None
    fieldPath: Annotated[str | None, doc("Path of the field to select in the specified API version.")] = None


class ResourceFieldSelector(Base, kw_only=True):
    """ResourceFieldSelector represents container resources (cpu, memory) and their output format."""

    containerName: Annotated[str | None, doc(
        "Container name: required for volumes, optional for env vars")] = None
    resource: Annotated[str | None, doc("Required: resource to select")] = None
    divisor: Annotated[Quantity | None, doc(
        "Specifies the output format of the exposed resources, defaults to \"1\"")] = None


class ConfigMapKeySelector(Base, kw_only=True):
    """Selects a key from a ConfigMap."""

    name: Annotated[str | None, doc("Name of the referent.")] = None
    key: Annotated[str | None, doc("The key to select.")] = None
    optional: Annotated[bool | None, doc("Specify whether the ConfigMap or its key must be defined")] = None


class SecretKeySelector(Base, kw_only=True):
    """SecretKeySelector selects a key of a Secret."""

    name: Annotated[str | None, doc("Name of the referent.")] = None
    key: Annotated[str | None, doc(
        "The key of the secret to select from.  Must be a valid secret key.")] = None
    optional: Annotated[bool | None, doc("Specify whether the Secret or its key must be defined")] = None


# ---------------------------------------------------------------------------------------------------
# core/v1: containers

class ContainerPort(Base, kw_only=True):
    """ContainerPort represents a network port in a single container."""

    name: Annotated[str | None, doc(
        "If specified, this must be an IANA_SVC_NAME and unique within the pod.")] = None
    hostPort: Annotated[int | None, doc("Number of port to expose on the host.")] = None
    containerPort: Annotated[int | None, doc(
        "Number of port to expose on the pod's IP address.")] = None
    protocol: Annotated[str | None, doc(
        "Protocol for port. Must be UDP, TCP, or SCTP. Defaults to \"TCP\".")] = None
    hostIP: Annotated[str | None, doc("What host IP to bind the external port to.")] = None


class EnvVarSource(Base, kw_only=True):
    """EnvVarSource represents a source for the value of an EnvVar."""

    fieldRef: Annotated[ObjectFieldSelector | None, doc(
        "Selects a field of the pod: supports metadata.name, metadata.namespace, `metadata.labels['<KEY>']`, "
        "`metadata.annotations['<KEY>']`, spec.nodeName, spec.serviceAccountName, status.hostIP, "
        "status.podIP, status.podIPs.")] = None
    resourceFieldRef: Annotated[ResourceFieldSelector | None, doc(
        "Selects a resource of the container: only resources limits and requests (limits.cpu, limits.memory, "
        "limits.ephemeral-storage, requests.cpu, requests.memory and requests.ephemeral-storage) are currently "
        "supported.")] = None
    configMapKeyRef: Annotated[ConfigMapKeySelector | None, doc("Selects a key of a ConfigMap.")] = None
    secretKeyRef: Annotated[SecretKeySelector | None, doc("Selects a key of a secret in the pod's namespace")] = None


class EnvVar(Base, kw_only=True):
    """EnvVar represents an environment variable present in a Container."""

    name: Annotated[str | None, doc("Name of the environment variable.")] = None
    value: Annotated[str | None, doc(
        "Variable references $(VAR_NAME) are expanded using the previously defined environment variables in "
        "the container and any service environment variables.")] = None
    valueFrom: Annotated[EnvVarSource | None, doc(
        "Source for the environment variable's value. Cannot be used if value is not empty.")] = None


class ConfigMapEnvSource(Base, kw_only=True):
    """ConfigMapEnvSource selects a ConfigMap to populate the environment variables with."""

    name: Annotated[str | None, doc("Name of the referent.")] = None
    optional: Annotated[bool | None, doc("Specify whether the ConfigMap must be defined")] = None


class SecretEnvSource(Base, kw_only=True):
    """SecretEnvSource selects a Secret to populate the environment variables with."""

    name: Annotated[str | None, doc("Name of the referent.")] = None
    optional: Annotated[bool | None, doc("Specify whether the Secret must be defined")] = None


class EnvFromSource(Base, kw_only=True):
    """EnvFromSource represents the source of a set of ConfigMaps or Secrets"""

    prefix: Annotated[str | None, doc(
        "Optional text to prepend to the name of each environment variable.")] = None
    configMapRef: Annotated[ConfigMapEnvSource | None, doc("The ConfigMap to select from")] = None
    secretRef: Annotated[SecretEnvSource | None, doc("The Secret to select from")] = None


class ResourceRequirements(Base, kw_only=True):
    """ResourceRequirements describes the compute resource requirements."""

    limits: Annotated[dict[str, Quantity] | None, doc(
        "Limits describes the maximum amount of compute resources allowed.")] = None
    requests: Annotated[dict[str, Quantity] | None, doc(
        "Requests describes the minimum amount of compute resources required.")] = None


class VolumeMount(Base, kw_only=True):
    """VolumeMount describes a mounting of a Volume within a container."""

    name: Annotated[str | None, doc("This must match the Name of a Volume.")] = None
    readOnly: Annotated[bool | None, doc(
        "Mounted read-only if true, read-write otherwise (false or unspecified).")] = None
    mountPath: Annotated[str | None, doc(
        "Path within the container at which the volume should be mounted.  Must not contain ':'.")] = None
    subPath: Annotated[str | None, doc(
        "Path within the volume from which the container's volume should be mounted.")] = None
    mountPropagation: Annotated[str | None, doc(
        "mountPropagation determines how mounts are propagated from the host to container and the other "
        "way around.")] = None
    subPathExpr: Annotated[str | None, doc(
        "Expanded path within the volume from which the container's volume should be mounted.")] = None


class ExecAction(Base, kw_only=True):
    """ExecAction describes a \"run in container\" action."""

    command: Annotated[list[str] | None, atomic_list(
        "Command is the command line to execute inside the container, the working directory for the command  "
        "is root ('/') in the container's filesystem.")] = None


class HTTPHeader(Base, kw_only=True):
    """HTTPHeader describes a custom header to be used in HTTP probes"""

    name: Annotated[str | None, doc("The header field name.")] = None
    value: Annotated[str | None, doc("The header field value")] = None


class HTTPGetAction(Base, kw_only=True):
    """HTTPGetAction describes an action based on HTTP Get requests."""

    path: Annotated[str | None, doc("Path to access on the HTTP server.")] = None
    port: Annotated[IntOrString | None, doc(
        "Name or number of the port to access on the container.")] = None
    host: Annotated[str | None, doc(
        "Host name to connect to, defaults to the pod IP.")] = None
    scheme: Annotated[str | None, doc(
        "Scheme to use for connecting to the host. Defaults to HTTP.")] = None
    httpHeaders: Annotated[list[HTTPHeader] | None, atomic_list(
        "Custom headers to set in the request. HTTP allows repeated headers.")] = None


class TCPSocketAction(Base, kw_only=True):
    """TCPSocketAction describes an action based on opening a socket"""

    port: Annotated[IntOrString | None, doc(
        "Number or name of the port to access on the container.")] = None
    host: Annotated[str | None, doc("Optional: Host name to connect to, defaults to the pod IP.")] = None


class GRPCAction(Base, kw_only=True):
    """GRPCAction specifies an action involving a GRPC service."""

    port: Annotated[int | None, doc(
        "Port number of the gRPC service. Number must be in the range 1 to 65535.")] = None
    service: Annotated[str | None, doc(
        "Service is the name of the service to place in the gRPC HealthCheckRequest.")] = None


class SleepAction(Base, kw_only=True):
    """SleepAction describes a \"sleep\" action."""

    seconds: Annotated[int | None, doc("Seconds is the number of seconds to sleep.")] = None


class Probe(Base, kw_only=True):
    """Probe describes a health check to be performed against a container to determine whether it is alive
    or ready to receive traffic."""

    # ProbeHandler is inlined, as Kubernetes embeds it.
    exec: Annotated[ExecAction | None, doc("Exec specifies a command to execute in the container.")] = None
    httpGet: Annotated[HTTPGetAction | None, doc("HTTPGet specifies an HTTP GET request to perform.")] = None
    tcpSocket: Annotated[TCPSocketAction | None, doc("TCPSocket specifies a connection to a TCP port.")] = None
    grpc: Annotated[GRPCAction | None, doc("GRPC specifies a GRPC HealthCheckRequest.")] = None
    initialDelaySeconds: Annotated[int | None, doc(
        "Number of seconds after the container has started before liveness probes are initiated.")] = None
    timeoutSeconds: Annotated[int | None, doc(
        "Number of seconds after which the probe times out. Defaults to 1 second. Minimum value is 1.")] = None
    periodSeconds: Annotated[int | None, doc(
        "How often (in seconds) to perform the probe. Default to 10 seconds. Minimum value is 1.")] = None
    successThreshold: Annotated[int | None, doc(
        "Minimum consecutive successes for the probe to be considered successful after having failed.")] = None
    failureThreshold: Annotated[int | None, doc(
        "Minimum consecutive failures for the probe to be considered failed after having succeeded.")] = None
    terminationGracePeriodSeconds: Annotated[int | None, doc(
        "Optional duration in seconds the pod needs to terminate gracefully upon probe failure.")] = None


class LifecycleHandler(Base, kw_only=True):
    """LifecycleHandler defines a specific action that should be taken in a lifecycle hook."""

    exec: Annotated[ExecAction | None, doc("Exec specifies a command to execute in the container.")] = None
    httpGet: Annotated[HTTPGetAction | None, doc("HTTPGet specifies an HTTP GET request to perform.")] = None
    tcpSocket: Annotated[TCPSocketAction | None, doc(
        "Deprecated. TCPSocket is NOT supported as a LifecycleHandler and kept for backward compatibility.")] = None
    sleep: Annotated[SleepAction | None, doc(
        "Sleep represents a duration that the container should sleep.")] = None


class Lifecycle(Base, kw_only=True):
    """Lifecycle describes actions that the management system should take in response to container lifecycle
    events."""

    postStart: Annotated[LifecycleHandler | None, doc(
        "PostStart is called immediately after a container is created.")] = None
    preStop: Annotated[LifecycleHandler | None, doc(
        "PreStop is called immediately before a container is terminated due to an API request or management "
        "event such as liveness/startup probe failure, preemption, resource contention, etc.")] = None


class Capabilities(Base, kw_only=True):
    """Adds and removes POSIX capabilities from running containers."""

    add: Annotated[list[str] | None, atomic_list("Added capabilities")] = None
    drop: Annotated[list[str] | None, atomic_list("Removed capabilities")] = None


class SELinuxOptions(Base, kw_only=True):
    """SELinuxOptions are the labels to be applied to the container"""

    user: Annotated[str | None, doc("User is a SELinux user label that applies to the container.")] = None
    role: Annotated[str | None, doc("Role is a SELinux role label that applies to the container.")] = None
    type: Annotated[str | None, doc("Type is a SELinux type label that applies to the container.")] = None
    level: Annotated[str | None, doc("Level is SELinux level label that applies to the container.")] = None


class SeccompProfile(Base, kw_only=True):
    """SeccompProfile defines a pod/container's seccomp profile settings."""

    type: Annotated[str | None, doc("type indicates which kind of seccomp profile will be applied.")] = None
    localhostProfile: Annotated[str | None, doc(
        "localhostProfile indicates a profile defined in a file on the node should be used.")] = None


class SecurityContext(Base, kw_only=True):
    """SecurityContext holds security configuration that will be applied to a container."""

    capabilities: Annotated[Capabilities | None, doc(
        "The capabilities to add/drop when running containers.")] = None
    privileged: Annotated[bool | None, doc("Run container in privileged mode.")] = None
    seLinuxOptions: Annotated[SELinuxOptions | None, doc(
        "The SELinux context to be applied to the container.")] = None
    runAsUser: Annotated[int | None, doc("The UID to run the entrypoint of the container process.")] = None
    runAsGroup: Annotated[int | None, doc("The GID to run the entrypoint of the container process.")] = None
    runAsNonRoot: Annotated[bool | None, doc(
        "Indicates that the container must run as a non-root user.")] = None
    readOnlyRootFilesystem: Annotated[bool | None, doc(
        "Whether this container has a read-only root filesystem. Default is false.")] = None
    allowPrivilegeEscalation: Annotated[bool | None, doc(
        "AllowPrivilegeEscalation controls whether a process can gain more privileges than its parent "
        "process.")] = None
    procMount: Annotated[str | None, doc(
        "procMount denotes the type of proc mount to use for the containers.")] = None
    seccompProfile: Annotated[SeccompProfile | None, doc(
        "The seccomp options to use by this container.")] = None


class Container(Base, kw_only=True):
    """A single application container that you want to run within a pod."""

    name: Annotated[str | None, doc(
        "Name of the container specified as a DNS_LABEL. Each container in a pod must have a unique name "
        "(DNS_LABEL). Cannot be updated.")] = None
    image: Annotated[str | None, doc("Container image name.")] = None
    command: Annotated[list[str] | None, atomic_list(
        "Entrypoint array. Not executed within a shell.")] = None
    args: Annotated[list[str] | None, atomic_list("Arguments to the entrypoint.")] = None
    workingDir: Annotated[str | None, doc("Container's working directory.")] = None
    ports: Annotated[list[ContainerPort] | None, map_list(
        "List of ports to expose from the container.", "containerPort", "protocol")] = None
    envFrom: Annotated[list[EnvFromSource] | None, atomic_list(
        "List of sources to populate environment variables in the container.")] = None
    env: Annotated[list[EnvVar] | None, map_list(
        "List of environment variables to set in the container. Cannot be updated.", "name")] = None
    resources: Annotated[ResourceRequirements | None, doc(
        "Compute Resources required by this container. Cannot be updated.")] = None
    resizePolicy: Annotated[list[Any] | None, atomic_list("Resources resize policy for the container.")] = None
    restartPolicy: Annotated[str | None, doc(
        "RestartPolicy defines the restart behavior of individual containers in a pod.")] = None
    volumeMounts: Annotated[list[VolumeMount] | None, map_list(
        "Pod volumes to mount into the container's filesystem. Cannot be updated.", "mountPath")] = None
    volumeDevices: Annotated[list[Any] | None, map_list(
        "volumeDevices is the list of block devices to be used by the container.", "devicePath")] = None
    livenessProbe: Annotated[Probe | None, doc("Periodic probe of container liveness.")] = None
    readinessProbe: Annotated[Probe | None, doc("Periodic probe of container service readiness.")] = None
    startupProbe: Annotated[Probe | None, doc(
        "StartupProbe indicates that the Pod has successfully initialized.")] = None
    lifecycle: Annotated[Lifecycle | None, doc(
        "Actions that the management system should take in response to container lifecycle events.")] = None
    terminationMessagePath: Annotated[str | None, doc(
        "Optional: Path at which the file to which the container's termination message will be written is "
        "mounted into the container's filesystem.")] = None
    terminationMessagePolicy: Annotated[str | None, doc(
        "Indicate how the termination message should be populated.")] = None
    imagePullPolicy: Annotated[str | None, doc(
        "Image pull policy. One of Always, Never, IfNotPresent.")] = None
    securityContext: Annotated[SecurityContext | None, doc(
        "SecurityContext defines the security options the container should be run with.")] = None
    stdin: Annotated[bool | None, doc(
        "Whether this container should allocate a buffer for stdin in the container runtime.")] = None
    stdinOnce: Annotated[bool | None, doc(
        "Whether the container runtime should close the stdin channel after it has been opened by a single "
        "attach.")] = None
    tty: Annotated[bool | None, doc(
        "Whether this container should allocate a TTY for itself, also requires 'stdin' to be true.")] = None


# ---------------------------------------------------------------------------------------------------
# core/v1: volumes

class KeyToPath(Base, kw_only=True):
    """Maps a string key to a path within a volume."""

    key: Annotated[str | None, doc("key is the key to project.")] = None
    path: Annotated[str | None, doc("path is the relative path of the file to map the key to.")] = None
    mode: Annotated[int | None, doc("mode is Optional: mode bits used to set permissions on this file.")] = None


class EmptyDirVolumeSource(Base, kw_only=True):
    """Represents an empty directory for a pod."""

    medium: Annotated[str | None, doc(
        "medium represents what type of storage medium should back this directory.")] = None
    sizeLimit: Annotated[Quantity | None, doc(
        "sizeLimit is the total amount of local storage required for this EmptyDir volume.")] = None


class HostPathVolumeSource(Base, kw_only=True):
    """Represents a host path mapped into a pod."""

    path: Annotated[str | None, doc("path of the directory on the host.")] = None
    type: Annotated[str | None, doc("type for HostPath Volume Defaults to \"\"")] = None


class SecretVolumeSource(Base, kw_only=True):
    """Adapts a Secret into a volume."""

    secretName: Annotated[str | None, doc(
        "secretName is the name of the secret in the pod's namespace to use.")] = None
    items: Annotated[list[KeyToPath] | None, atomic_list(
        "items If unspecified, each key-value pair in the Data field of the referenced Secret will be "
        "projected into the volume as a file whose name is the key and content is the value.")] = None
    defaultMode: Annotated[int | None, doc(
        "defaultMode is Optional: mode bits used to set permissions on created files by default.")] = None
    optional: Annotated[bool | None, doc(
        "optional field specify whether the Secret or its keys must be defined")] = None


class ConfigMapVolumeSource(Base, kw_only=True):
    """Adapts a ConfigMap into a volume."""

    name: Annotated[str | None, doc("Name of the referent.")] = None
    items: Annotated[list[KeyToPath] | None, atomic_list(
        "items if unspecified, each key-value pair in the Data field of the referenced ConfigMap will be "
        "projected into the volume as a file whose name is the key and content is the value.")] = None
    defaultMode: Annotated[int | None, doc(
        "defaultMode is optional: mode bits used to set permissions on created files by default.")] = None
    optional: Annotated[bool | None, doc(
        "optional specify whether the ConfigMap or its keys must be defined")] = None


class DownwardAPIVolumeFile(Base, kw_only=True):
    """DownwardAPIVolumeFile represents information to create the file containing the pod field"""

    path: Annotated[str | None, doc(
        "Required: Path is  the relative path name of the file to be created.")] = None
    fieldRef: Annotated[ObjectFieldSelector | None, doc(
        "Required: Selects a field of the pod: only annotations, labels, name, namespace and uid are "
        "supported.")] = None
    resourceFieldRef: Annotated[ResourceFieldSelector | None, doc(
        "Selects a resource of the container: only resources limits and requests (limits.cpu, limits.memory, "
        "requests.cpu and requests.memory) are currently supported.")] = None
    mode: Annotated[int | None, doc(
        "Optional: mode bits used to set permissions on this file, must be an octal value between 0000 and "
        "0777 or a decimal value between 0 and 511.")] = None


class DownwardAPIVolumeSource(Base, kw_only=True):
    """DownwardAPIVolumeSource represents a volume containing downward API info."""

    items: Annotated[list[DownwardAPIVolumeFile] | None, atomic_list(
        "Items is a list of downward API volume file")] = None
    defaultMode: Annotated[int | None, doc(
        "Optional: mode bits to use on created files by default.")] = None


class DownwardAPIProjection(Base, kw_only=True):
    """Represents downward API info for projecting into a projected volume."""

    items: Annotated[list[DownwardAPIVolumeFile] | None, atomic_list(
        "Items is a list of DownwardAPIVolume file")] = None


class SecretProjection(Base, kw_only=True):
    """Adapts a secret into a projected volume."""

    name: Annotated[str | None, doc("Name of the referent.")] = None
    items: Annotated[list[KeyToPath] | None, atomic_list(
        "items if unspecified, each key-value pair in the Data field of the referenced Secret will be "
        "projected into the volume as a file whose name is the key and content is the value.")] = None
    optional: Annotated[bool | None, doc(
        "optional field specify whether the Secret or its key must be defined")] = None


class ConfigMapProjection(Base, kw_only=True):
    """Adapts a ConfigMap into a projected volume."""

    name: Annotated[str | None, doc("Name of the referent.")] = None
    items: Annotated[list[KeyToPath] | None, atomic_list(
        "items if unspecified, each key-value pair in the Data field of the referenced ConfigMap will be "
        "projected into the volume as a file whose name is the key and content is the value.")] = None
    optional: Annotated[bool | None, doc(
        "optional specify whether the ConfigMap or its keys must be defined")] = None


class ServiceAccountTokenProjection(Base, kw_only=True):
    """ServiceAccountTokenProjection represents a projected service account token volume."""

    audience: Annotated[str | None, doc(
        "audience is the intended audience of the token.")] = None
    expirationSeconds: Annotated[int | None, doc(
        "expirationSeconds is the requested duration of validity of the service account token.")] = None
    path: Annotated[str | None, doc(
        "path is the path relative to the mount point of the file to project the token into.")] = None


class VolumeProjection(Base, kw_only=True):
    """Projection that may be projected along with other supported volume types."""

    secret: Annotated[SecretProjection | None, doc(
        "secret information about the secret data to project")] = None
    configMap: Annotated[ConfigMapProjection | None, doc(
        "configMap information about the configMap data to project")] = None
    downwardAPI: Annotated[DownwardAPIProjection | None, doc(
        "downwardAPI information about the downwardAPI data to project")] = None
    serviceAccountToken: Annotated[ServiceAccountTokenProjection | None, doc(
        "serviceAccountToken is information about the serviceAccountToken data to project")] = None


class ProjectedVolumeSource(Base, kw_only=True):
    """Represents a projected volume source"""

    sources: Annotated[list[VolumeProjection] | None, atomic_list(
        "sources is the list of volume projections.")] = None
    defaultMode: Annotated[int | None, doc(
        "defaultMode are the mode bits used to set permissions on created files by default.")] = None


class PersistentVolumeClaimVolumeSource(Base, kw_only=True):
    """PersistentVolumeClaimVolumeSource references the user's PVC in the same namespace."""

    claimName: Annotated[str | None, doc(
        "claimName is the name of a PersistentVolumeClaim in the same namespace as the pod using this "
        "volume.")] = None
    readOnly: Annotated[bool | None, doc("readOnly Will force the ReadOnly setting in VolumeMounts.")] = None


class Volume(Base, kw_only=True):
    """Volume represents a named volume in a pod that may be accessed by any container in the pod."""

    name: Annotated[str | None, doc("name of the volume. Must be a DNS_LABEL and unique within the pod.")] = None
    emptyDir: Annotated[EmptyDirVolumeSource | None, doc(
        "emptyDir represents a temporary directory that shares a pod's lifetime.")] = None
    hostPath: Annotated[HostPathVolumeSource | None, doc(
        "hostPath represents a pre-existing file or directory on the host machine that is directly exposed "
        "to the container.")] = None
    secret: Annotated[SecretVolumeSource | None, doc(
        "secret represents a secret that should populate this volume.")] = None
    configMap: Annotated[ConfigMapVolumeSource | None, doc(
        "configMap represents a configMap that should populate this volume")] = None
    projected: Annotated[ProjectedVolumeSource | None, doc(
        "projected items for all in one resources secrets, configmaps, and downward API")] = None
    downwardAPI: Annotated[DownwardAPIVolumeSource | None, doc(
        "downwardAPI represents downward API about the pod that should populate this volume")] = None
    persistentVolumeClaim: Annotated[PersistentVolumeClaimVolumeSource | None, doc(
        "persistentVolumeClaimVolumeSource represents a reference to a PersistentVolumeClaim in the same "
        "namespace.")] = None
    # The other volume sources are accepted and kept as given (shoal's runtimes do not mount them).
    csi: Annotated[Any, kept("csi (Container Storage Interface) represents ephemeral storage that is handled "
                             "by certain external CSI drivers.")] = None
    ephemeral: Annotated[Any, kept(
        "ephemeral represents a volume that is handled by a cluster storage driver.")] = None
    image: Annotated[Any, kept("image represents an OCI object (a container image or artifact) pulled and "
                               "mounted on the kubelet's host machine.")] = None
    nfs: Annotated[Any, kept("nfs represents an NFS mount on the host that shares a pod's lifetime")] = None
    iscsi: Annotated[Any, kept("iscsi represents an ISCSI Disk resource that is attached to a kubelet's host "
                               "machine and then exposed to the pod.")] = None
    fc: Annotated[Any, kept("fc represents a Fibre Channel resource that is attached to a kubelet's host "
                            "machine and then exposed to the pod.")] = None
    gitRepo: Annotated[Any, kept("gitRepo represents a git repository at a particular revision.")] = None
    rbd: Annotated[Any, kept("rbd represents a Rados Block Device mount on the host that shares a pod's "
                             "lifetime.")] = None
    cephfs: Annotated[Any, kept(
        "cephFS represents a Ceph FS mount on the host that shares a pod's lifetime.")] = None
    glusterfs: Annotated[Any, kept("glusterfs represents a Glusterfs mount on the host that shares a pod's "
                                   "lifetime.")] = None
    flexVolume: Annotated[Any, kept("flexVolume represents a generic volume resource that is provisioned/attached "
                                    "using an exec based plugin.")] = None
    awsElasticBlockStore: Annotated[Any, kept("awsElasticBlockStore represents an AWS Disk resource.")] = None
    azureDisk: Annotated[Any, kept("azureDisk represents an Azure Data Disk mount on the host and bind mount to "
                                   "the pod.")] = None
    azureFile: Annotated[Any, kept("azureFile represents an Azure File Service mount on the host and bind mount "
                                   "to the pod.")] = None
    cinder: Annotated[Any, kept("cinder represents a cinder volume attached and mounted on kubelets host "
                                "machine.")] = None
    flocker: Annotated[Any, kept("flocker represents a Flocker volume attached to a kubelet's host machine.")] = None
    gcePersistentDisk: Annotated[Any, kept("gcePersistentDisk represents a GCE Disk resource.")] = None
    photonPersistentDisk: Annotated[Any, kept("photonPersistentDisk represents a PhotonController persistent "
                                              "disk attached and mounted on kubelets host machine.")] = None
    portworxVolume: Annotated[Any, kept("portworxVolume represents a portworx volume attached and mounted on "
                                        "kubelets host machine.")] = None
    quobyte: Annotated[Any, kept("quobyte represents a Quobyte mount on the host that shares a pod's "
                                 "lifetime.")] = None
    scaleIO: Annotated[Any, kept("scaleIO represents a ScaleIO persistent volume attached and mounted on "
                                 "Kubernetes nodes.")] = None
    storageos: Annotated[Any, kept("storageOS represents a StorageOS volume attached and mounted on Kubernetes "
                                   "nodes.")] = None
    vsphereVolume: Annotated[Any, kept("vsphereVolume represents a vSphere volume attached and mounted on "
                                       "kubelets host machine.")] = None


# ---------------------------------------------------------------------------------------------------
# core/v1: Pod

class Toleration(Base, kw_only=True):
    """The pod this Toleration is attached to tolerates any taint that matches the triple
    <key,value,effect> using the matching operator <operator>."""

    key: Annotated[str | None, doc("Key is the taint key that the toleration applies to.")] = None
    operator: Annotated[str | None, doc(
        "Operator represents a key's relationship to the value. Valid operators are Exists and Equal.")] = None
    value: Annotated[str | None, doc("Value is the taint value the toleration matches to.")] = None
    effect: Annotated[str | None, doc("Effect indicates the taint effect to match.")] = None
    tolerationSeconds: Annotated[int | None, doc(
        "TolerationSeconds represents the period of time the toleration (which must be of effect NoExecute, "
        "otherwise this field is ignored) tolerates the taint.")] = None


class Sysctl(Base, kw_only=True):
    """Sysctl defines a kernel parameter to be set"""

    name: Annotated[str | None, doc("Name of a property to set")] = None
    value: Annotated[str | None, doc("Value of a property to set")] = None


class PodSecurityContext(Base, kw_only=True):
    """PodSecurityContext holds pod-level security attributes and common container settings."""

    seLinuxOptions: Annotated[SELinuxOptions | None, doc(
        "The SELinux context to be applied to all containers.")] = None
    runAsUser: Annotated[int | None, doc("The UID to run the entrypoint of the container process.")] = None
    runAsGroup: Annotated[int | None, doc("The GID to run the entrypoint of the container process.")] = None
    runAsNonRoot: Annotated[bool | None, doc(
        "Indicates that the container must run as a non-root user.")] = None
    supplementalGroups: Annotated[list[int] | None, atomic_list(
        "A list of groups applied to the first process run in each container, in addition to the container's "
        "primary GID and fsGroup (if specified).")] = None
    fsGroup: Annotated[int | None, doc(
        "A special supplemental group that applies to all containers in a pod.")] = None
    fsGroupChangePolicy: Annotated[str | None, doc(
        "fsGroupChangePolicy defines behavior of changing ownership and permission of the volume before being "
        "exposed inside Pod.")] = None
    sysctls: Annotated[list[Sysctl] | None, atomic_list(
        "Sysctls hold a list of namespaced sysctls used for the pod.")] = None
    seccompProfile: Annotated[SeccompProfile | None, doc(
        "The seccomp options to use by the containers in this pod.")] = None


class PodReadinessGate(Base, kw_only=True):
    """PodReadinessGate contains the reference to a pod condition"""

    conditionType: Annotated[str | None, doc(
        "ConditionType refers to a condition in the pod's condition list with matching type.")] = None


class PodDNSConfigOption(Base, kw_only=True):
    """PodDNSConfigOption defines DNS resolver options of a pod."""

    name: Annotated[str | None, doc("Name is this DNS resolver option's name.")] = None
    value: Annotated[str | None, doc("Value is this DNS resolver option's value.")] = None


class PodDNSConfig(Base, kw_only=True):
    """PodDNSConfig defines the DNS parameters of a pod in addition to those generated from DNSPolicy."""

    nameservers: Annotated[list[str] | None, atomic_list(
        "A list of DNS name server IP addresses.")] = None
    searches: Annotated[list[str] | None, atomic_list("A list of DNS search domains for host-name lookup.")] = None
    options: Annotated[list[PodDNSConfigOption] | None, atomic_list(
        "A list of DNS resolver options.")] = None


class HostAlias(Base, kw_only=True):
    """HostAlias holds the mapping between IP and hostnames that will be injected as an entry in the pod's hosts
    file."""

    ip: Annotated[str | None, doc("IP address of the host file entry.")] = None
    hostnames: Annotated[list[str] | None, atomic_list("Hostnames for the above IP address.")] = None


class PodOS(Base, kw_only=True):
    """PodOS defines the OS parameters of a pod."""

    name: Annotated[str | None, doc("Name is the name of the operating system. The currently supported values are "
                                    "linux and windows.")] = None


class PodSchedulingGate(Base, kw_only=True):
    """PodSchedulingGate is associated to a Pod to guard its scheduling."""

    name: Annotated[str | None, doc("Name of the scheduling gate.")] = None


class PodSpec(Base, kw_only=True):
    """PodSpec is a description of a pod."""

    volumes: Annotated[list[Volume] | None, map_list(
        "List of volumes that can be mounted by containers belonging to the pod.", "name",
        strategy="merge,retainKeys")] = None
    initContainers: Annotated[list[Container] | None, map_list(
        "List of initialization containers belonging to the pod.", "name")] = None
    containers: Annotated[list[Container] | None, map_list(
        "List of containers belonging to the pod.", "name")] = None
    restartPolicy: Annotated[str | None, doc(
        "Restart policy for all containers within the pod. One of Always, OnFailure, Never.")] = None
    terminationGracePeriodSeconds: Annotated[int | None, doc(
        "Optional duration in seconds the pod needs to terminate gracefully.")] = None
    activeDeadlineSeconds: Annotated[int | None, doc(
        "Optional duration in seconds the pod may be active on the node relative to StartTime before the "
        "system will actively try to mark it failed and kill associated containers.")] = None
    dnsPolicy: Annotated[str | None, doc("Set DNS policy for the pod. Defaults to \"ClusterFirst\".")] = None
    nodeSelector: Annotated[dict[str, str] | None, doc(
        "NodeSelector is a selector which must be true for the pod to fit on a node.")] = None
    serviceAccountName: Annotated[str | None, doc(
        "ServiceAccountName is the name of the ServiceAccount to use to run this pod.")] = None
    serviceAccount: Annotated[str | None, doc(
        "DeprecatedServiceAccount is a deprecated alias for ServiceAccountName.")] = None
    automountServiceAccountToken: Annotated[bool | None, doc(
        "AutomountServiceAccountToken indicates whether a service account token should be automatically "
        "mounted.")] = None
    nodeName: Annotated[str | None, doc(
        "NodeName indicates in which node this pod is scheduled.")] = None
    hostNetwork: Annotated[bool | None, doc(
        "Host networking requested for this pod.")] = None
    hostPID: Annotated[bool | None, doc("Use the host's pid namespace.")] = None
    hostIPC: Annotated[bool | None, doc("Use the host's ipc namespace.")] = None
    shareProcessNamespace: Annotated[bool | None, doc(
        "Share a single process namespace between all of the containers in a pod.")] = None
    securityContext: Annotated[PodSecurityContext | None, doc(
        "SecurityContext holds pod-level security attributes and common container settings.")] = None
    imagePullSecrets: Annotated[list[LocalObjectReference] | None, map_list(
        "ImagePullSecrets is an optional list of references to secrets in the same namespace to use for "
        "pulling any of the images used by this PodSpec.", "name")] = None
    hostname: Annotated[str | None, doc("Specifies the hostname of the Pod")] = None
    subdomain: Annotated[str | None, doc(
        "If specified, the fully qualified Pod hostname will be \"<hostname>.<subdomain>.<pod namespace>.svc."
        "<cluster domain>\".")] = None
    affinity: Annotated[Any, doc("If specified, the pod's scheduling constraints", type="object")] = None
    schedulerName: Annotated[str | None, doc(
        "If specified, the pod will be dispatched by specified scheduler.")] = None
    tolerations: Annotated[list[Toleration] | None, atomic_list("If specified, the pod's tolerations.")] = None
    priorityClassName: Annotated[str | None, doc(
        "If specified, indicates the pod's priority.")] = None
    priority: Annotated[int | None, doc("The priority value.")] = None
    dnsConfig: Annotated[PodDNSConfig | None, doc(
        "Specifies the DNS parameters of a pod.")] = None
    readinessGates: Annotated[list[PodReadinessGate] | None, atomic_list(
        "If specified, all readiness gates will be evaluated for pod readiness.")] = None
    enableServiceLinks: Annotated[bool | None, doc(
        "EnableServiceLinks indicates whether information about services should be injected into pod's "
        "environment variables, matching the syntax of Docker links.")] = None
    preemptionPolicy: Annotated[str | None, doc(
        "PreemptionPolicy is the Policy for preempting pods with lower priority.")] = None
    ephemeralContainers: Annotated[list[Any] | None, map_list(
        "List of ephemeral containers run in this pod.", "name")] = None
    hostAliases: Annotated[list[HostAlias] | None, map_list(
        "HostAliases is an optional list of hosts and IPs that will be injected into the pod's hosts file if "
        "specified.", "ip")] = None
    hostUsers: Annotated[bool | None, doc("Use the host's user namespace.")] = None
    os: Annotated[PodOS | None, doc("Specifies the OS of the containers in the pod.")] = None
    overhead: Annotated[dict[str, Quantity] | None, doc(
        "Overhead represents the resource overhead associated with running a pod for a given RuntimeClass.")] = None
    resourceClaims: Annotated[list[Any] | None, map_list(
        "ResourceClaims defines which ResourceClaims must be allocated and reserved before the Pod is allowed to "
        "start.", "name", strategy="merge,retainKeys")] = None
    resources: Annotated[ResourceRequirements | None, doc(
        "Resources is the total amount of CPU and Memory resources required by all containers in the pod.")] = None
    runtimeClassName: Annotated[str | None, doc(
        "RuntimeClassName refers to a RuntimeClass object in the node.k8s.io group, which should be used to run "
        "this pod.")] = None
    schedulingGates: Annotated[list[PodSchedulingGate] | None, map_list(
        "SchedulingGates is an opaque list of values that if specified will block scheduling the pod.", "name")] = None
    setHostnameAsFQDN: Annotated[bool | None, doc(
        "If true the pod's hostname will be configured as the pod's FQDN, rather than the leaf name (the "
        "default).")] = None
    topologySpreadConstraints: Annotated[list[Any] | None, map_list(
        "TopologySpreadConstraints describes how a group of pods ought to spread across topology domains.",
        "topologyKey", "whenUnsatisfiable")] = None


class PodCondition(Base, kw_only=True):
    """PodCondition contains details for the current condition of this pod."""

    type: Annotated[str | None, doc("Type is the type of the condition.")] = None
    status: Annotated[str | None, doc("Status is the status of the condition. Can be True, False, Unknown.")] = None
    lastProbeTime: Annotated[Time | None, doc("Last time we probed the condition.")] = None
    lastTransitionTime: Annotated[Time | None, doc(
        "Last time the condition transitioned from one status to another.")] = None
    reason: Annotated[str | None, doc(
        "Unique, one-word, CamelCase reason for the condition's last transition.")] = None
    message: Annotated[str | None, doc(
        "Human-readable message indicating details about last transition.")] = None


class PodIP(Base, kw_only=True):
    """PodIP represents a single IP address allocated to the pod."""

    ip: Annotated[str | None, doc("IP is the IP address assigned to the pod")] = None


class HostIP(Base, kw_only=True):
    """HostIP represents a single IP address allocated to the host."""

    ip: Annotated[str | None, doc("IP is the IP address assigned to the host")] = None


class ContainerStateWaiting(Base, kw_only=True):
    """ContainerStateWaiting is a waiting state of a container."""

    reason: Annotated[str | None, doc("(brief) reason the container is not yet running.")] = None
    message: Annotated[str | None, doc("Message regarding why the container is not yet running.")] = None


class ContainerStateRunning(Base, kw_only=True):
    """ContainerStateRunning is a running state of a container."""

    startedAt: Annotated[Time | None, doc("Time at which the container was last (re-)started")] = None


class ContainerStateTerminated(Base, kw_only=True):
    """ContainerStateTerminated is a terminated state of a container."""

    exitCode: Annotated[int | None, doc("Exit status from the last termination of the container")] = None
    signal: Annotated[int | None, doc("Signal from the last termination of the container")] = None
    reason: Annotated[str | None, doc("(brief) reason from the last termination of the container")] = None
    message: Annotated[str | None, doc("Message regarding the last termination of the container")] = None
    startedAt: Annotated[Time | None, doc(
        "Time at which previous execution of the container started")] = None
    finishedAt: Annotated[Time | None, doc("Time at which the container last terminated")] = None
    containerID: Annotated[str | None, doc(
        "Container's ID in the format '<type>://<container_id>'")] = None


class ContainerState(Base, kw_only=True):
    """ContainerState holds a possible state of container."""

    waiting: Annotated[ContainerStateWaiting | None, doc("Details about a waiting container")] = None
    running: Annotated[ContainerStateRunning | None, doc("Details about a running container")] = None
    terminated: Annotated[ContainerStateTerminated | None, doc(
        "Details about a terminated container")] = None


class ContainerStatus(Base, kw_only=True):
    """ContainerStatus contains details for the current status of this container."""

    name: Annotated[str | None, doc(
        "Name is a DNS_LABEL representing the unique name of the container.")] = None
    state: Annotated[ContainerState | None, doc("State holds details about the container's current condition.")] = None
    lastState: Annotated[ContainerState | None, doc(
        "LastTerminationState holds the last termination state of the container to help debug container "
        "crashes and restarts.")] = None
    ready: Annotated[bool | None, doc(
        "Ready specifies whether the container is currently passing its readiness check.")] = None
    restartCount: Annotated[int | None, doc(
        "RestartCount holds the number of times the container has been restarted.")] = None
    image: Annotated[str | None, doc(
        "Image is the name of container image that the container is running.")] = None
    imageID: Annotated[str | None, doc("ImageID is the image ID of the container's image.")] = None
    containerID: Annotated[str | None, doc(
        "ContainerID is the ID of the container in the format '<type>://<container_id>'.")] = None
    started: Annotated[bool | None, doc(
        "Started indicates whether the container has finished its postStart lifecycle hook and passed its "
        "startup probe.")] = None
    allocatedResources: Annotated[dict[str, Quantity] | None, doc(
        "AllocatedResources represents the compute resources allocated for this container by the node.")] = None
    resources: Annotated[ResourceRequirements | None, doc(
        "Resources represents the compute resource requests and limits that have been successfully enacted on the "
        "running container after it has been started or has been successfully resized.")] = None
    volumeMounts: Annotated[list[Any] | None, map_list(
        "Status of volume mounts.", "mountPath")] = None
    user: Annotated[Any, kept("User represents user identity information initially attached to the first "
                              "process of the container")] = None
    allocatedResourcesStatus: Annotated[list[Any] | None, map_list(
        "AllocatedResourcesStatus represents the status of various resources allocated for this Pod.", "name")] = None
    stopSignal: Annotated[str | None, doc("StopSignal reports the effective stop signal for this container")] = None


class PodStatus(Base, kw_only=True):
    """PodStatus represents information about the status of a pod."""

    phase: Annotated[str | None, doc(
        "The phase of a Pod is a simple, high-level summary of where the Pod is in its lifecycle.")] = None
    conditions: Annotated[list[PodCondition] | None, map_list(
        "Current service state of pod.", "type")] = None
    message: Annotated[str | None, doc(
        "A human readable message indicating details about why the pod is in this condition.")] = None
    reason: Annotated[str | None, doc(
        "A brief CamelCase message indicating details about why the pod is in this state.")] = None
    nominatedNodeName: Annotated[str | None, doc(
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be "
        "scheduled right away as preemption victims receive their graceful termination periods.")] = None
    hostIP: Annotated[str | None, doc(
        "hostIP holds the IP address of the host to which the pod is assigned.")] = None
    hostIPs: Annotated[list[HostIP] | None, map_list(
        "hostIPs holds the IP addresses allocated to the host.", "ip")] = None
    podIP: Annotated[str | None, doc(
        "podIP address allocated to the pod. Routable at least within the cluster.")] = None
    podIPs: Annotated[list[PodIP] | None, map_list(
        "podIPs holds the IP addresses allocated to the pod.", "ip")] = None
    startTime: Annotated[Time | None, doc(
        "RFC 3339 date and time at which the object was acknowledged by the Kubelet.")] = None
    initContainerStatuses: Annotated[list[ContainerStatus] | None, atomic_list(
        "Statuses of init containers in this pod.")] = None
    containerStatuses: Annotated[list[ContainerStatus] | None, atomic_list(
        "Statuses of containers in this pod.")] = None
    qosClass: Annotated[str | None, doc(
        "The Quality of Service (QOS) classification assigned to the pod based on resource "
        "requirements")] = None
    observedGeneration: Annotated[int | None, doc(
        "If set, this represents the .metadata.generation that the pod status was set based upon.")] = None
    ephemeralContainerStatuses: Annotated[list[ContainerStatus] | None, atomic_list(
        "Statuses for any ephemeral containers that have run in this pod.")] = None
    resize: Annotated[str | None, doc(
        "Status of resources resize desired for pod's containers.")] = None
    resourceClaimStatuses: Annotated[list[Any] | None, map_list(
        "Status of resource claims.", "name", strategy="merge,retainKeys")] = None


class Pod(Base, kw_only=True):
    """Pod is a collection of containers that can run on a host."""

    kind: Annotated[str | None, doc("Kind is a string value representing the REST resource this object "
                                    "represents.")] = None
    apiVersion: Annotated[str | None, doc("APIVersion defines the versioned schema of this representation "
                                          "of an object.")] = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[PodSpec | None, doc("Specification of the desired behavior of the pod.")] = None
    status: Annotated[PodStatus | None, doc(
        "Most recently observed status of the pod.")] = None


class Binding(Base, kw_only=True):
    """Binding ties one object to another; for example, a pod is bound to a node by a scheduler."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    target: Annotated[ObjectReference | None, doc("The target object that you want to bind to the standard "
                                                  "object.")] = None


class Eviction(Base, kw_only=True):
    """Eviction evicts a pod from its node subject to certain policies and safety constraints."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("ObjectMeta describes the pod that is being evicted.")] = None
    deleteOptions: Annotated[DeleteOptions | None, doc("DeleteOptions may be provided")] = None


# ---------------------------------------------------------------------------------------------------
# core/v1: Node

class Taint(Base, kw_only=True):
    """The node this Taint is attached to has the \"effect\" on any pod that does not tolerate the Taint."""

    key: Annotated[str | None, doc("Required. The taint key to be applied to a node.")] = None
    value: Annotated[str | None, doc("The taint value corresponding to the taint key.")] = None
    effect: Annotated[str | None, doc(
        "Required. The effect of the taint on pods that do not tolerate the taint.")] = None
    timeAdded: Annotated[Time | None, doc(
        "TimeAdded represents the time at which the taint was added.")] = None


class NodeSpec(Base, kw_only=True):
    """NodeSpec describes the attributes that a node is created with."""

    podCIDR: Annotated[str | None, doc("PodCIDR represents the pod IP range assigned to the node.")] = None
    podCIDRs: Annotated[list[str] | None, set_list(
        "podCIDRs represents the IP ranges assigned to the node for usage by Pods on that node.")] = None
    providerID: Annotated[str | None, doc(
        "ID of the node assigned by the cloud provider in the format: <ProviderName>://<ProviderSpecificNodeID>"
        )] = None
    unschedulable: Annotated[bool | None, doc(
        "Unschedulable controls node schedulability of new pods.")] = None
    taints: Annotated[list[Taint] | None, atomic_list("If specified, the node's taints.")] = None
    configSource: Annotated[Any, kept("Deprecated: Previously used to specify the source of the node's "
                                      "configuration for the DynamicKubeletConfig feature.")] = None
    externalID: Annotated[str | None, doc("Deprecated. Not all kubelets will set this field.")] = None


class NodeCondition(Base, kw_only=True):
    """NodeCondition contains condition information for a node."""

    type: Annotated[str | None, doc("Type of node condition.")] = None
    status: Annotated[str | None, doc("Status of the condition, one of True, False, Unknown.")] = None
    lastHeartbeatTime: Annotated[Time | None, doc("Last time we got an update on a given condition.")] = None
    lastTransitionTime: Annotated[Time | None, doc(
        "Last time the condition transit from one status to another.")] = None
    reason: Annotated[str | None, doc("(brief) reason for the condition's last transition.")] = None
    message: Annotated[str | None, doc(
        "Human readable message indicating details about last transition.")] = None


class NodeAddress(Base, kw_only=True):
    """NodeAddress contains information for the node's address."""

    type: Annotated[str | None, doc("Node address type, one of Hostname, ExternalIP or InternalIP.")] = None
    address: Annotated[str | None, doc("The node address.")] = None


class DaemonEndpoint(Base, kw_only=True):
    """DaemonEndpoint contains information about a single Daemon endpoint."""

    Port: Annotated[int | None, doc("Port number of the given endpoint.")] = None


class NodeDaemonEndpoints(Base, kw_only=True):
    """NodeDaemonEndpoints lists ports opened by daemons running on the Node."""

    kubeletEndpoint: Annotated[DaemonEndpoint | None, doc("Endpoint on which Kubelet is listening.")] = None


class NodeSystemInfo(Base, kw_only=True):
    """NodeSystemInfo is a set of ids/uuids to uniquely identify the node."""

    machineID: Annotated[str | None, doc("MachineID reported by the node.")] = None
    systemUUID: Annotated[str | None, doc("SystemUUID reported by the node.")] = None
    bootID: Annotated[str | None, doc("Boot ID reported by the node.")] = None
    kernelVersion: Annotated[str | None, doc(
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).")] = None
    osImage: Annotated[str | None, doc(
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).")] = None
    containerRuntimeVersion: Annotated[str | None, doc(
        "ContainerRuntime Version reported by the node through runtime remote API "
        "(e.g. containerd://1.4.2).")] = None
    kubeletVersion: Annotated[str | None, doc("Kubelet Version reported by the node.")] = None
    kubeProxyVersion: Annotated[str | None, doc("Deprecated: KubeProxy Version reported by the node.")] = None
    operatingSystem: Annotated[str | None, doc("The Operating System reported by the node")] = None
    architecture: Annotated[str | None, doc("The Architecture reported by the node")] = None


class NodeStatus(Base, kw_only=True):
    """NodeStatus is information about the current status of a node."""

    capacity: Annotated[dict[str, Quantity] | None, doc(
        "Capacity represents the total resources of a node.")] = None
    allocatable: Annotated[dict[str, Quantity] | None, doc(
        "Allocatable represents the resources of a node that are available for scheduling.")] = None
    phase: Annotated[str | None, doc("NodePhase is the recently observed lifecycle phase of the node.")] = None
    conditions: Annotated[list[NodeCondition] | None, map_list(
        "Conditions is an array of current observed node conditions.", "type")] = None
    addresses: Annotated[list[NodeAddress] | None, map_list(
        "List of addresses reachable to the node.", "type")] = None
    daemonEndpoints: Annotated[NodeDaemonEndpoints | None, doc(
        "Endpoints of daemons running on the Node.")] = None
    nodeInfo: Annotated[NodeSystemInfo | None, doc(
        "Set of ids/uuids to uniquely identify the node.")] = None
    volumesInUse: Annotated[list[str] | None, atomic_list("List of attachable volumes in use (mounted) by the "
                                                          "node.")] = None
    volumesAttached: Annotated[list[Any] | None, atomic_list("List of volumes that are attached to the node.")] = None
    config: Annotated[Any, kept("Status of the config assigned to the node via the dynamic Kubelet config "
                                "feature.")] = None
    runtimeHandlers: Annotated[list[Any] | None, atomic_list("The available runtime handlers.")] = None
    features: Annotated[Any, kept("Features describes the set of features implemented by the CRI "
                                  "implementation.")] = None


class Node(Base, kw_only=True):
    """Node is a worker node in Kubernetes."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[NodeSpec | None, doc("Spec defines the behavior of a node.")] = None
    status: Annotated[NodeStatus | None, doc("Most recently observed status of the node.")] = None


# ---------------------------------------------------------------------------------------------------
# core/v1: Namespace, Secret, ConfigMap, Event, ServiceAccount

class NamespaceSpec(Base, kw_only=True):
    """NamespaceSpec describes the attributes on a Namespace."""

    finalizers: Annotated[list[str] | None, atomic_list(
        "Finalizers is an opaque list of values that must be empty to permanently remove object from "
        "storage.")] = None


class NamespaceCondition(Base, kw_only=True):
    """NamespaceCondition contains details about state of namespace."""

    type: Annotated[str | None, doc("Type of namespace controller condition.")] = None
    status: Annotated[str | None, doc("Status of the condition, one of True, False, Unknown.")] = None
    lastTransitionTime: Annotated[Time | None, doc(
        "Last time the condition transitioned from one status to another.")] = None
    reason: Annotated[str | None, doc(
        "Unique, one-word, CamelCase reason for the condition's last transition.")] = None
    message: Annotated[str | None, doc(
        "Human-readable message indicating details about last transition.")] = None


class NamespaceStatus(Base, kw_only=True):
    """NamespaceStatus is information about the current status of a Namespace."""

    phase: Annotated[str | None, doc("Phase is the current lifecycle phase of the namespace.")] = None
    conditions: Annotated[list[NamespaceCondition] | None, map_list(
        "Represents the latest available observations of a namespace's current state.", "type")] = None


class Namespace(Base, kw_only=True):
    """Namespace provides a scope for Names. Use of multiple namespaces is optional."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[NamespaceSpec | None, doc("Spec defines the behavior of the Namespace.")] = None
    status: Annotated[NamespaceStatus | None, doc("Status describes the current status of a Namespace.")] = None


class Secret(Base, kw_only=True):
    """Secret holds secret data of a certain type."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    immutable: Annotated[bool | None, doc(
        "Immutable, if set to true, ensures that data stored in the Secret cannot be updated (only object "
        "metadata can be modified).")] = None
    # base64 on the wire, kept as the text Kubernetes sends ([]byte in Go).
    data: Annotated[dict[str, str] | None, doc(
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. "
        "The serialized form of the secret data is a base64 encoded string.")] = None
    stringData: Annotated[dict[str, str] | None, doc(
        "stringData allows specifying non-binary secret data in string form.")] = None
    type: Annotated[str | None, doc(
        "Used to facilitate programmatic handling of secret data.")] = None


class ConfigMap(Base, kw_only=True):
    """ConfigMap holds configuration data for pods to consume."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    immutable: Annotated[bool | None, doc(
        "Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated (only object "
        "metadata can be modified).")] = None
    data: Annotated[dict[str, str] | None, doc("Data contains the configuration data.")] = None
    binaryData: Annotated[dict[str, str] | None, doc(
        "BinaryData contains the binary data.")] = None


class EventSource(Base, kw_only=True):
    """EventSource contains information for an event."""

    component: Annotated[str | None, doc("Component from which the event is generated.")] = None
    host: Annotated[str | None, doc("Node name on which the event is generated.")] = None


class EventSeries(Base, kw_only=True):
    """EventSeries contain information on series of events, i.e. thing that was/is happening continuously
    for some time."""

    count: Annotated[int | None, doc("Number of occurrences in this series up to the last heartbeat time")] = None
    lastObservedTime: Annotated[MicroTime | None, doc("Time of the last occurrence observed")] = None


class Event(Base, kw_only=True):
    """Event is a report of an event somewhere in the cluster."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    involvedObject: Annotated[ObjectReference | None, doc("The object that this event is about.")] = None
    reason: Annotated[str | None, doc(
        "This should be a short, machine understandable string that gives the reason for the transition into "
        "the object's current status.")] = None
    message: Annotated[str | None, doc("A human-readable description of the status of this operation.")] = None
    source: Annotated[EventSource | None, doc(
        "The component reporting this event. Should be a short machine understandable string.")] = None
    firstTimestamp: Annotated[Time | None, doc(
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)")] = None
    lastTimestamp: Annotated[Time | None, doc(
        "The time at which the most recent occurrence of this event was recorded.")] = None
    count: Annotated[int | None, doc("The number of times this event has occurred.")] = None
    type: Annotated[str | None, doc("Type of this event (Normal, Warning), new types could be added in the "
                                    "future")] = None
    eventTime: Annotated[MicroTime | None, doc("Time when this Event was first observed.")] = None
    series: Annotated[EventSeries | None, doc(
        "Data about the Event series this event represents or nil if it's a singleton Event.")] = None
    action: Annotated[str | None, doc(
        "What action was taken/failed regarding to the Regarding object.")] = None
    related: Annotated[ObjectReference | None, doc("Optional secondary object for more complex actions.")] = None
    reportingComponent: Annotated[str | None, doc(
        "Name of the controller that emitted this Event, e.g. `kubernetes.io/kubelet`.")] = None
    reportingInstance: Annotated[str | None, doc(
        "ID of the controller instance, e.g. `kubelet-xyzf`.")] = None


class ServiceAccount(Base, kw_only=True):
    """ServiceAccount binds together: * a name, understood by users, and perhaps by peripheral systems, for
    an identity * a principal that can be authenticated and authorized * a set of secrets"""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    secrets: Annotated[list[ObjectReference] | None, map_list(
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount "
        "are allowed to use.", "name")] = None
    imagePullSecrets: Annotated[list[LocalObjectReference] | None, atomic_list(
        "ImagePullSecrets is a list of references to secrets in the same namespace to use for pulling any "
        "images in pods that reference this ServiceAccount.")] = None
    automountServiceAccountToken: Annotated[bool | None, doc(
        "AutomountServiceAccountToken indicates whether pods running as this service account should have an "
        "API token automatically mounted.")] = None


# ---------------------------------------------------------------------------------------------------
# Lists

_LIST_META = doc("Standard list metadata.")


class PodList(Base, kw_only=True):
    """PodList is a list of Pods."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[Pod] | None, doc("List of pods.")] = None


class NodeList(Base, kw_only=True):
    """NodeList is the whole list of all Nodes which have been registered with master."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[Node] | None, doc("List of nodes")] = None


class NamespaceList(Base, kw_only=True):
    """NamespaceList is a list of Namespaces."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[Namespace] | None, doc("Items is the list of Namespace objects in the list.")] = None


class SecretList(Base, kw_only=True):
    """SecretList is a list of Secret."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[Secret] | None, doc("Items is a list of secret objects.")] = None


class ConfigMapList(Base, kw_only=True):
    """ConfigMapList is a resource containing a list of ConfigMap objects."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[ConfigMap] | None, doc("Items is the list of ConfigMaps.")] = None


class EventList(Base, kw_only=True):
    """EventList is a list of events."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[Event] | None, doc("List of events")] = None


class ServiceAccountList(Base, kw_only=True):
    """ServiceAccountList is a list of ServiceAccount objects"""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[ServiceAccount] | None, doc("List of ServiceAccounts.")] = None


# ---------------------------------------------------------------------------------------------------
# apps/v1 (Deployment, ReplicaSet) and autoscaling/v1 (Scale)

class PodTemplateSpec(Base, kw_only=True):
    """PodTemplateSpec describes the data a pod should have when created from a template."""

    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[PodSpec | None, doc("Specification of the desired behavior of the pod.")] = None


class ReplicaSetCondition(Base, kw_only=True):
    """ReplicaSetCondition describes the state of a replica set at a certain point."""

    type: Annotated[str | None, doc("Type of replica set condition.")] = None
    status: Annotated[str | None, doc("Status of the condition, one of True, False, Unknown.")] = None
    lastTransitionTime: Annotated[Time | None, doc(
        "The last time the condition transitioned from one status to another.")] = None
    reason: Annotated[str | None, doc("The reason for the condition's last transition.")] = None
    message: Annotated[str | None, doc("A human readable message indicating details about the transition.")] = None


class ReplicaSetSpec(Base, kw_only=True):
    """ReplicaSetSpec is the specification of a ReplicaSet."""

    replicas: Annotated[int | None, doc("Replicas is the number of desired pods.")] = None
    minReadySeconds: Annotated[int | None, doc(
        "Minimum number of seconds for which a newly created pod should be ready without any of its container "
        "crashing, for it to be considered available.")] = None
    selector: Annotated[LabelSelector | None, doc(
        "Selector is a label query over pods that should match the replica count.")] = None
    template: Annotated[PodTemplateSpec | None, doc(
        "Template is the object that describes the pod that will be created if insufficient replicas are "
        "detected.")] = None


class ReplicaSetStatus(Base, kw_only=True):
    """ReplicaSetStatus represents the current status of a ReplicaSet."""

    replicas: Annotated[int | None, doc(
        "Replicas is the most recently observed number of non-terminating pods.")] = None
    fullyLabeledReplicas: Annotated[int | None, doc(
        "The number of non-terminating pods that have labels matching the labels of the pod template of the "
        "replicaset.")] = None
    readyReplicas: Annotated[int | None, doc(
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.")] = None
    availableReplicas: Annotated[int | None, doc(
        "The number of available non-terminating pods (ready for at least minReadySeconds) for this replica "
        "set.")] = None
    terminatingReplicas: Annotated[int | None, doc(
        "The number of terminating pods for this replica set.")] = None
    observedGeneration: Annotated[int | None, doc(
        "ObservedGeneration reflects the generation of the most recently observed ReplicaSet.")] = None
    conditions: Annotated[list[ReplicaSetCondition] | None, map_list(
        "Represents the latest available observations of a replica set's current state.", "type")] = None


class ReplicaSet(Base, kw_only=True):
    """ReplicaSet ensures that a specified number of pod replicas are running at any given time."""

    kind: Annotated[str | None, doc("Kind is a string value representing the REST resource this object "
                                    "represents.")] = None
    apiVersion: Annotated[str | None, doc("APIVersion defines the versioned schema of this representation "
                                          "of an object.")] = None
    metadata: Annotated[ObjectMeta | None, doc(
        "If the Labels of a ReplicaSet are empty, they are defaulted to be the same as the Pod(s) that the "
        "ReplicaSet manages.")] = None
    spec: Annotated[ReplicaSetSpec | None, doc(
        "Spec defines the specification of the desired behavior of the ReplicaSet.")] = None
    status: Annotated[ReplicaSetStatus | None, doc(
        "Status is the most recently observed status of the ReplicaSet.")] = None


class RollingUpdateDeployment(Base, kw_only=True):
    """Spec to control the desired behavior of rolling update."""

    maxUnavailable: Annotated[IntOrString | None, doc(
        "The maximum number of pods that can be unavailable during the update.")] = None
    maxSurge: Annotated[IntOrString | None, doc(
        "The maximum number of pods that can be scheduled above the desired number of pods.")] = None


class DeploymentStrategy(Base, kw_only=True):
    """DeploymentStrategy describes how to replace existing pods with new ones."""

    type: Annotated[str | None, doc(
        "Type of deployment. Can be \"Recreate\" or \"RollingUpdate\". Default is RollingUpdate.")] = None
    rollingUpdate: Annotated[RollingUpdateDeployment | None, doc(
        "Rolling update config params. Present only if DeploymentStrategyType = RollingUpdate.")] = None


class DeploymentSpec(Base, kw_only=True):
    """DeploymentSpec is the specification of the desired behavior of the Deployment."""

    replicas: Annotated[int | None, doc("Number of desired pods.")] = None
    selector: Annotated[LabelSelector | None, doc("Label selector for pods.")] = None
    template: Annotated[PodTemplateSpec | None, doc("Template describes the pods that will be created.")] = None
    strategy: Annotated[DeploymentStrategy | None, doc(
        "The deployment strategy to use to replace existing pods with new ones.",
        x_kubernetes_patch_strategy="retainKeys")] = None
    minReadySeconds: Annotated[int | None, doc(
        "Minimum number of seconds for which a newly created pod should be ready without any of its container "
        "crashing, for it to be considered available.")] = None
    revisionHistoryLimit: Annotated[int | None, doc(
        "The number of old ReplicaSets to retain to allow rollback.")] = None
    paused: Annotated[bool | None, doc("Indicates that the deployment is paused.")] = None
    progressDeadlineSeconds: Annotated[int | None, doc(
        "The maximum time in seconds for a deployment to make progress before it is considered to be failed.")] \
        = None


class DeploymentCondition(Base, kw_only=True):
    """DeploymentCondition describes the state of a deployment at a certain point."""

    type: Annotated[str | None, doc("Type of deployment condition.")] = None
    status: Annotated[str | None, doc("Status of the condition, one of True, False, Unknown.")] = None
    lastUpdateTime: Annotated[Time | None, doc("The last time this condition was updated.")] = None
    lastTransitionTime: Annotated[Time | None, doc(
        "Last time the condition transitioned from one status to another.")] = None
    reason: Annotated[str | None, doc("The reason for the condition's last transition.")] = None
    message: Annotated[str | None, doc("A human readable message indicating details about the transition.")] = None


class DeploymentStatus(Base, kw_only=True):
    """DeploymentStatus is the most recently observed status of the Deployment."""

    observedGeneration: Annotated[int | None, doc("The generation observed by the deployment controller.")] = None
    replicas: Annotated[int | None, doc(
        "Total number of non-terminating pods targeted by this deployment (their labels match the "
        "selector).")] = None
    updatedReplicas: Annotated[int | None, doc(
        "Total number of non-terminating pods targeted by this deployment that have the desired template "
        "spec.")] = None
    readyReplicas: Annotated[int | None, doc(
        "Total number of non-terminating pods targeted by this Deployment with a Ready Condition.")] = None
    availableReplicas: Annotated[int | None, doc(
        "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this "
        "deployment.")] = None
    unavailableReplicas: Annotated[int | None, doc(
        "Total number of unavailable pods targeted by this deployment.")] = None
    terminatingReplicas: Annotated[int | None, doc(
        "Total number of terminating pods targeted by this deployment.")] = None
    conditions: Annotated[list[DeploymentCondition] | None, map_list(
        "Represents the latest available observations of a deployment's current state.", "type")] = None
    collisionCount: Annotated[int | None, doc(
        "Count of hash collisions for the Deployment.")] = None


class Deployment(Base, kw_only=True):
    """Deployment enables declarative updates for Pods and ReplicaSets."""

    kind: Annotated[str | None, doc("Kind is a string value representing the REST resource this object "
                                    "represents.")] = None
    apiVersion: Annotated[str | None, doc("APIVersion defines the versioned schema of this representation "
                                          "of an object.")] = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[DeploymentSpec | None, doc(
        "Specification of the desired behavior of the Deployment.")] = None
    status: Annotated[DeploymentStatus | None, doc("Most recently observed status of the Deployment.")] = None


class ScaleSpec(Base, kw_only=True):
    """ScaleSpec describes the attributes of a scale subresource."""

    replicas: Annotated[int | None, doc("replicas is the desired number of instances for the scaled object.")] \
        = None


class ScaleStatus(Base, kw_only=True):
    """ScaleStatus represents the current status of a scale subresource."""

    replicas: Annotated[int | None, doc("replicas is the actual number of observed instances of the scaled "
                                        "object.")] = None
    selector: Annotated[str | None, doc("selector is the label query over pods that should match the replicas "
                                        "count.")] = None


class Scale(Base, kw_only=True):
    """Scale represents a scaling request for a resource."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object metadata.")] = None
    spec: Annotated[ScaleSpec | None, doc("spec defines the behavior of the scale.")] = None
    status: Annotated[ScaleStatus | None, doc("status is the current status of the scale.")] = None


class ReplicaSetList(Base, kw_only=True):
    """ReplicaSetList is a collection of ReplicaSets."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[ReplicaSet] | None, doc("List of ReplicaSets.")] = None


class DeploymentList(Base, kw_only=True):
    """DeploymentList is a list of Deployments."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[Deployment] | None, doc("Items is the list of Deployments.")] = None


# ---------------------------------------------------------------------------------------------------
# apps/v1 DaemonSet

class RollingUpdateDaemonSet(Base, kw_only=True):
    """Spec to control the desired behavior of daemon set rolling update."""

    maxUnavailable: Annotated[IntOrString | None, doc(
        "The maximum number of DaemonSet pods that can be unavailable during the update.")] = None
    maxSurge: Annotated[IntOrString | None, doc(
        "The maximum number of nodes with an existing available DaemonSet pod that can have an updated "
        "DaemonSet pod during during an update.")] = None


class DaemonSetUpdateStrategy(Base, kw_only=True):
    """DaemonSetUpdateStrategy is a struct used to control the update strategy for a DaemonSet."""

    type: Annotated[str | None, doc(
        "Type of daemon set update. Can be \"RollingUpdate\" or \"OnDelete\". Default is RollingUpdate.")] = None
    rollingUpdate: Annotated[RollingUpdateDaemonSet | None, doc(
        "Rolling update config params. Present only if type = \"RollingUpdate\".")] = None


class DaemonSetSpec(Base, kw_only=True):
    """DaemonSetSpec is the specification of a daemon set."""

    selector: Annotated[LabelSelector | None, doc(
        "A label query over pods that are managed by the daemon set. Must match in order to be controlled.")] = None
    template: Annotated[PodTemplateSpec | None, doc(
        "An object that describes the pod that will be created.")] = None
    updateStrategy: Annotated[DaemonSetUpdateStrategy | None, doc(
        "An update strategy to replace existing DaemonSet pods with new pods.")] = None
    minReadySeconds: Annotated[int | None, doc(
        "The minimum number of seconds for which a newly created DaemonSet pod should be ready without any of "
        "its container crashing, for it to be considered available.")] = None
    revisionHistoryLimit: Annotated[int | None, doc(
        "The number of old history to retain to allow rollback.")] = None


class DaemonSetCondition(Base, kw_only=True):
    """DaemonSetCondition describes the state of a DaemonSet at a certain point."""

    type: Annotated[str | None, doc("Type of DaemonSet condition.")] = None
    status: Annotated[str | None, doc("Status of the condition, one of True, False, Unknown.")] = None
    lastTransitionTime: Annotated[Time | None, doc(
        "Last time the condition transitioned from one status to another.")] = None
    reason: Annotated[str | None, doc("The reason for the condition's last transition.")] = None
    message: Annotated[str | None, doc("A human readable message indicating details about the transition.")] = None


class DaemonSetStatus(Base, kw_only=True):
    """DaemonSetStatus represents the current status of a daemon set."""

    currentNumberScheduled: Annotated[int | None, doc(
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.")] \
        = None
    numberMisscheduled: Annotated[int | None, doc(
        "The number of nodes that are running the daemon pod, but are not supposed to run the daemon pod.")] = None
    desiredNumberScheduled: Annotated[int | None, doc(
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the "
        "daemon pod).")] = None
    numberReady: Annotated[int | None, doc(
        "numberReady is the number of nodes that should be running the daemon pod and have one or more of the "
        "daemon pod running with a Ready Condition.")] = None
    observedGeneration: Annotated[int | None, doc(
        "The most recent generation observed by the daemon set controller.")] = None
    updatedNumberScheduled: Annotated[int | None, doc(
        "The total number of nodes that are running updated daemon pod")] = None
    numberAvailable: Annotated[int | None, doc(
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod "
        "running and available (ready for at least spec.minReadySeconds)")] = None
    numberUnavailable: Annotated[int | None, doc(
        "The number of nodes that should be running the daemon pod and have none of the daemon pod running and "
        "available (ready for at least spec.minReadySeconds)")] = None
    collisionCount: Annotated[int | None, doc(
        "Count of hash collisions for the DaemonSet.")] = None
    conditions: Annotated[list[DaemonSetCondition] | None, map_list(
        "Represents the latest available observations of a DaemonSet's current state.", "type")] = None


class DaemonSet(Base, kw_only=True):
    """DaemonSet represents the configuration of a daemon set."""

    kind: Annotated[str | None, doc("Kind is a string value representing the REST resource this object "
                                    "represents.")] = None
    apiVersion: Annotated[str | None, doc("APIVersion defines the versioned schema of this representation "
                                          "of an object.")] = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[DaemonSetSpec | None, doc("The desired behavior of this daemon set.")] = None
    status: Annotated[DaemonSetStatus | None, doc(
        "The current status of this daemon set.")] = None


class DaemonSetList(Base, kw_only=True):
    """DaemonSetList is a collection of daemon sets."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[DaemonSet] | None, doc("A list of daemon sets.")] = None



class ControllerRevision(Base, kw_only=True):
    """ControllerRevision implements an immutable snapshot of state data. Clients are responsible for serializing
    and deserializing the objects that contain their internal state."""

    kind: Annotated[str | None, doc("Kind is a string value representing the REST resource this object "
                                    "represents.")] = None
    apiVersion: Annotated[str | None, doc("APIVersion defines the versioned schema of this representation "
                                          "of an object.")] = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    data: Annotated[RawExtension | None, doc("Data is the serialized representation of the state.")] = None
    revision: Annotated[int | None, doc("Revision indicates the revision of the state represented by Data.")] = None


class ControllerRevisionList(Base, kw_only=True):
    """ControllerRevisionList is a resource containing a list of ControllerRevision objects."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[ControllerRevision] | None, doc("Items is the list of ControllerRevisions")] = None




# ---------------------------------------------------------------------------------------------------
# batch/v1: Jobs and CronJobs


class JobCondition(Base, kw_only=True):
    """JobCondition describes current state of a job."""

    type: Annotated[str | None, doc("Type of job condition, Complete or Failed.")] = None
    status: Annotated[str | None, doc("Status of the condition, one of True, False, Unknown.")] = None
    lastProbeTime: Annotated[Time | None, doc("Last time the condition was checked.")] = None
    lastTransitionTime: Annotated[Time | None, doc(
        "Last time the condition transit from one status to another.")] = None
    reason: Annotated[str | None, doc("(brief) reason for the condition's last transition.")] = None
    message: Annotated[str | None, doc("Human readable message indicating details about last transition.")] = None


class JobSpec(Base, kw_only=True):
    """JobSpec describes how the job execution will look like."""

    parallelism: Annotated[int | None, doc(
        "Specifies the maximum desired number of pods the job should run at any given time.")] = None
    completions: Annotated[int | None, doc(
        "Specifies the desired number of successfully finished pods the job should be run with.")] = None
    activeDeadlineSeconds: Annotated[int | None, doc(
        "Specifies the duration in seconds relative to the startTime that the job may be continuously active "
        "before the system tries to terminate it; value must be positive integer.")] = None
    podFailurePolicy: Annotated[dict[str, Any] | None, doc(
        "Specifies the policy of handling failed pods (accepted, not applied by shoal).")] = None
    successPolicy: Annotated[dict[str, Any] | None, doc(
        "successPolicy specifies the policy when the Job can be declared as succeeded (accepted, not applied by "
        "shoal).")] = None
    backoffLimit: Annotated[int | None, doc(
        "Specifies the number of retries before marking this job failed. Defaults to 6")] = None
    backoffLimitPerIndex: Annotated[int | None, doc(
        "Specifies the limit for the number of retries within an index before marking this index as failed.")] \
        = None
    maxFailedIndexes: Annotated[int | None, doc(
        "Specifies the maximal number of failed indexes before marking the Job as failed.")] = None
    selector: Annotated[LabelSelector | None, doc(
        "A label query over pods that should match the pod count.")] = None
    manualSelector: Annotated[bool | None, doc(
        "manualSelector controls generation of pod labels and pod selectors.")] = None
    template: Annotated[PodTemplateSpec | None, doc(
        "Describes the pod that will be created when executing a job.")] = None
    ttlSecondsAfterFinished: Annotated[int | None, doc(
        "ttlSecondsAfterFinished limits the lifetime of a Job that has finished execution (either Complete or "
        "Failed).")] = None
    completionMode: Annotated[str | None, doc(
        "completionMode specifies how Pod completions are tracked. It can be `NonIndexed` (default) or "
        "`Indexed`.")] = None
    suspend: Annotated[bool | None, doc(
        "suspend specifies whether the Job controller should create Pods or not.")] = None
    podReplacementPolicy: Annotated[str | None, doc(
        "podReplacementPolicy specifies when to create replacement Pods.")] = None
    managedBy: Annotated[str | None, doc(
        "ManagedBy field indicates the controller that manages a Job.")] = None


class UncountedTerminatedPods(Base, kw_only=True):
    """UncountedTerminatedPods holds UIDs of Pods that have terminated but haven't been accounted in Job status
    counters."""

    succeeded: Annotated[list[str] | None, doc("succeeded holds UIDs of succeeded Pods.")] = None
    failed: Annotated[list[str] | None, doc("failed holds UIDs of failed Pods.")] = None


class JobStatus(Base, kw_only=True):
    """JobStatus represents the current state of a Job."""

    conditions: Annotated[list[JobCondition] | None, doc(
        "The latest available observations of an object's current state.", x_kubernetes_list_type="atomic",
        x_kubernetes_patch_merge_key="type", x_kubernetes_patch_strategy="merge")] = None
    startTime: Annotated[Time | None, doc(
        "Represents time when the job controller started processing a job.")] = None
    completionTime: Annotated[Time | None, doc("Represents time when the job was completed.")] = None
    active: Annotated[int | None, doc("The number of pending and running pods which are not terminating.")] = None
    succeeded: Annotated[int | None, doc("The number of pods which reached phase Succeeded.")] = None
    failed: Annotated[int | None, doc("The number of pods which reached phase Failed.")] = None
    terminating: Annotated[int | None, doc(
        "The number of pods which are terminating (in phase Pending or Running and have a deletionTimestamp).")] \
        = None
    completedIndexes: Annotated[str | None, doc(
        "completedIndexes holds the completed indexes when .spec.completionMode = \"Indexed\" in a text "
        "format.")] = None
    failedIndexes: Annotated[str | None, doc(
        "FailedIndexes holds the failed indexes when spec.backoffLimitPerIndex is set.")] = None
    uncountedTerminatedPods: Annotated[UncountedTerminatedPods | None, doc(
        "uncountedTerminatedPods holds the UIDs of Pods that have terminated but the job controller hasn't yet "
        "accounted for in the status counters.")] = None
    ready: Annotated[int | None, doc("The number of active pods which have a Ready condition.")] = None


class Job(Base, kw_only=True):
    """Job represents the configuration of a single job."""

    kind: Annotated[str | None, doc("Kind is a string value representing the REST resource this object "
                                    "represents.")] = None
    apiVersion: Annotated[str | None, doc("APIVersion defines the versioned schema of this representation "
                                          "of an object.")] = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[JobSpec | None, doc("Specification of the desired behavior of a job.")] = None
    status: Annotated[JobStatus | None, doc("Current status of a job.")] = None


class JobList(Base, kw_only=True):
    """JobList is a collection of jobs."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[Job] | None, doc("items is the list of Jobs.")] = None


class JobTemplateSpec(Base, kw_only=True):
    """JobTemplateSpec describes the data a Job should have when created from a template"""

    metadata: Annotated[ObjectMeta | None, doc(
        "Standard object's metadata of the jobs created from this template.")] = None
    spec: Annotated[JobSpec | None, doc("Specification of the desired behavior of the job.")] = None


class CronJobSpec(Base, kw_only=True):
    """CronJobSpec describes how the job execution will look like and when it will actually run."""

    schedule: Annotated[str | None, doc(
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.")] = None
    timeZone: Annotated[str | None, doc("The time zone name for the given schedule.")] = None
    startingDeadlineSeconds: Annotated[int | None, doc(
        "Optional deadline in seconds for starting the job if it misses scheduled time for any reason.")] = None
    concurrencyPolicy: Annotated[str | None, doc(
        "Specifies how to treat concurrent executions of a Job. Valid values are: \"Allow\" (default), "
        "\"Forbid\", \"Replace\"")] = None
    suspend: Annotated[bool | None, doc(
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started "
        "executions.  Defaults to false.")] = None
    jobTemplate: Annotated[JobTemplateSpec | None, doc(
        "Specifies the job that will be created when executing a CronJob.")] = None
    successfulJobsHistoryLimit: Annotated[int | None, doc(
        "The number of successful finished jobs to retain. Value must be non-negative integer. Defaults to 3.")] \
        = None
    failedJobsHistoryLimit: Annotated[int | None, doc(
        "The number of failed finished jobs to retain. Value must be non-negative integer. Defaults to 1.")] = None


class CronJobStatus(Base, kw_only=True):
    """CronJobStatus represents the current state of a cron job."""

    active: Annotated[list[ObjectReference] | None, atomic_list(
        "A list of pointers to currently running jobs.")] = None
    lastScheduleTime: Annotated[Time | None, doc(
        "Information when was the last time the job was successfully scheduled.")] = None
    lastSuccessfulTime: Annotated[Time | None, doc(
        "Information when was the last time the job successfully completed.")] = None


class CronJob(Base, kw_only=True):
    """CronJob represents the configuration of a single cron job."""

    kind: Annotated[str | None, doc("Kind is a string value representing the REST resource this object "
                                    "represents.")] = None
    apiVersion: Annotated[str | None, doc("APIVersion defines the versioned schema of this representation "
                                          "of an object.")] = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[CronJobSpec | None, doc(
        "Specification of the desired behavior of a cron job, including the schedule.")] = None
    status: Annotated[CronJobStatus | None, doc("Current status of a cron job.")] = None


class CronJobList(Base, kw_only=True):
    """CronJobList is a collection of cron jobs."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[CronJob] | None, doc("items is the list of CronJobs.")] = None


BATCH_V1: tuple[type[Base], ...] = (
    JobCondition, JobSpec, UncountedTerminatedPods, JobStatus, Job, JobList, JobTemplateSpec, CronJobSpec,
    CronJobStatus, CronJob, CronJobList,
)


# The meta/v1 shapes (the rest are core/v1, but Eviction, which is policy/v1): openapi.py names them.
META_V1: tuple[type[Base], ...] = (
    OwnerReference, ManagedFieldsEntry, ObjectMeta, ListMeta, LabelSelectorRequirement, LabelSelector,
    StatusCause, StatusDetails, Status, Preconditions, DeleteOptions, WatchEvent,
)
POLICY_V1: tuple[type[Base], ...] = (Eviction,)
APPS_V1: tuple[type[Base], ...] = (
    ReplicaSetCondition, ReplicaSetSpec, ReplicaSetStatus, ReplicaSet, RollingUpdateDeployment, DeploymentStrategy,
    DeploymentSpec, DeploymentCondition, DeploymentStatus, Deployment, ReplicaSetList, DeploymentList,
)
AUTOSCALING_V1: tuple[type[Base], ...] = (ScaleSpec, ScaleStatus, Scale)
APPS_V1 += (
    RollingUpdateDaemonSet, DaemonSetUpdateStrategy, DaemonSetSpec, DaemonSetCondition, DaemonSetStatus, DaemonSet,
    DaemonSetList, ControllerRevision, ControllerRevisionList,
)


# ---------------------------------------------------------------------------------------------------
# Decoding

class DecodeError(ValueError):
    """A body that does not decode to the wanted shape; ``str(error)`` is the detail Kubernetes prints after
    ``<Kind> in version "<v>" cannot be handled as a <Kind>: ``."""


class StrictDecodingError(DecodeError):
    """Unknown (or repeated) fields in a body decoded with ``fieldValidation=Strict``."""

    def __init__(self, unknown: list[str], duplicate: list[str] | None = None) -> None:
        self.unknown = unknown
        self.duplicate = duplicate or []
        problems = [f'unknown field "{path}"' for path in unknown]
        problems += [f'duplicate field "{path}"' for path in self.duplicate]
        super().__init__("strict decoding error: " + ", ".join(problems))


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the keys it had more than once."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    obj.duplicates = []
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen and key not in obj.duplicates:
                obj.duplicates.append(key)
            seen.add(key)
    return obj


class KubeDecoder(Generic[T]):
    """Decodes JSON bytes (or converts already parsed YAML/JSON values) to ``typ``; strict ones reject
    unknown and repeated fields, as Kubernetes does with ``fieldValidation=Strict``."""

    def __init__(self, typ: type[T], strict: bool) -> None:
        self.typ = typ
        self.strict = strict
        self._json = msgspec.json.Decoder(typ)

    def decode(self, data: bytes | str) -> T:
        """The object of a JSON body."""
        try:
            value = self._json.decode(data)
        except msgspec.ValidationError as error:
            raise DecodeError(str(error)) from None
        except msgspec.DecodeError as error:
            raise DecodeError(str(error)) from None
        if self.strict:
            # Parsed again, keeping repeated keys, which a decoder into the type drops.
            unknown, duplicate = field_problems(self.typ, json.loads(data, object_pairs_hook=_pairs))
            if unknown or duplicate:
                raise StrictDecodingError(unknown, duplicate)
        return value

    def convert(self, obj: Any) -> T:
        """The object of an already parsed body (YAML, a patched dict)."""
        if self.strict:
            unknown = unknown_fields(self.typ, obj)
            if unknown:
                raise StrictDecodingError(unknown)
        try:
            return msgspec.convert(obj, self.typ)
        except msgspec.ValidationError as error:
            raise DecodeError(str(error)) from None


@functools.cache
def decoder(typ: type[T], strict: bool = False) -> KubeDecoder[T]:
    """The (cached) decoder of ``typ``; ``strict`` for ``fieldValidation=Strict``."""
    return KubeDecoder(typ, strict)


@functools.cache
def _type_info(typ: type) -> msgspec.inspect.Type:
    return msgspec.inspect.type_info(typ)


def unknown_fields(typ: type, obj: Any) -> list[str]:
    """The paths of ``obj``'s fields that ``typ`` does not have, as Kubernetes names them
    (``spec.containers[0].foo``), in the order they appear."""
    return field_problems(typ, obj)[0]


def field_problems(typ: type, obj: Any) -> tuple[list[str], list[str]]:
    """The paths of ``obj``'s unknown fields and of its repeated ones (objects parsed with their repeated keys
    kept, see ``KubeDecoder.decode``)."""
    unknown: list[str] = []
    duplicate: list[str] = []
    _walk(_type_info(typ), obj, "", unknown, duplicate)
    return unknown, duplicate


def _walk(t: msgspec.inspect.Type, value: Any, path: str, unknown: list[str], duplicate: list[str]) -> None:
    while isinstance(t, msgspec.inspect.Metadata):
        t = t.type
    if isinstance(t, msgspec.inspect.UnionType):
        for member in t.types:
            while isinstance(member, msgspec.inspect.Metadata):
                member = member.type
            if isinstance(value, dict) and isinstance(member, msgspec.inspect.StructType | msgspec.inspect.DictType):
                t = member
                break
            if isinstance(value, list) and isinstance(member, msgspec.inspect.ListType):
                t = member
                break
        else:
            return
    if isinstance(value, _Object):
        duplicate.extend(f"{path}.{key}" if path else key for key in value.duplicates)
    if isinstance(t, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {field.encode_name: field for field in t.fields}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            field = fields.get(key)
            if field is None:
                unknown.append(child)
            else:
                _walk(field.type, item, child, unknown, duplicate)
    elif isinstance(t, msgspec.inspect.ListType) and isinstance(value, list):
        for index, item in enumerate(value):
            _walk(t.item_type, item, f"{path}[{index}]", unknown, duplicate)
    elif isinstance(t, msgspec.inspect.DictType) and isinstance(value, dict):
        for key, item in value.items():
            _walk(t.value_type, item, f"{path}.{key}" if path else str(key), unknown, duplicate)


# ---------------------------------------------------------------------------------------------------
# core/v1 Service and Endpoints, discovery.k8s.io/v1 EndpointSlice

class ServicePort(Base, kw_only=True):
    """ServicePort contains information on service's port."""

    name: Annotated[str | None, doc("The name of this port within the service.")] = None
    protocol: Annotated[str | None, doc("The IP protocol for this port. Supports \"TCP\", \"UDP\", and "
                                        "\"SCTP\". Default is TCP.")] = None
    appProtocol: Annotated[str | None, doc("The application protocol for this port.")] = None
    port: Annotated[int | None, doc("The port that will be exposed by this service.")] = None
    targetPort: Annotated[IntOrString | None, doc(
        "Number or name of the port to access on the pods targeted by the service.")] = None
    nodePort: Annotated[int | None, doc(
        "The port on each node on which this service is exposed when type is NodePort or LoadBalancer.")] = None


class ClientIPConfig(Base, kw_only=True):
    """ClientIPConfig represents the configurations of Client IP based session affinity."""

    timeoutSeconds: Annotated[int | None, doc(
        "timeoutSeconds specifies the seconds of ClientIP type session sticky time.")] = None


class SessionAffinityConfig(Base, kw_only=True):
    """SessionAffinityConfig represents the configurations of session affinity."""

    clientIP: Annotated[ClientIPConfig | None, doc(
        "clientIP contains the configurations of Client IP based session affinity.")] = None


class ServiceSpec(Base, kw_only=True):
    """ServiceSpec describes the attributes that a user creates on a service."""

    ports: Annotated[list[ServicePort] | None, map_list(
        "The list of ports that are exposed by this service.", "port", "protocol")] = None
    selector: Annotated[dict[str, str] | None, doc(
        "Route service traffic to pods with label keys and values matching this selector.")] = None
    clusterIP: Annotated[str | None, doc(
        "clusterIP is the IP address of the service and is usually assigned randomly.")] = None
    clusterIPs: Annotated[list[str] | None, atomic_list(
        "ClusterIPs is a list of IP addresses assigned to this service, and are usually assigned randomly.")] = None
    type: Annotated[str | None, doc("type determines how the Service is exposed.")] = None
    externalIPs: Annotated[list[str] | None, atomic_list(
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this "
        "service.")] = None
    sessionAffinity: Annotated[str | None, doc(
        "Supports \"ClientIP\" and \"None\". Used to maintain session affinity.")] = None
    loadBalancerIP: Annotated[str | None, doc("Only applies to Service Type: LoadBalancer.")] = None
    loadBalancerSourceRanges: Annotated[list[str] | None, atomic_list(
        "If specified and supported by the platform, this will restrict traffic through the cloud-provider "
        "load-balancer will be restricted to the specified client IPs.")] = None
    externalName: Annotated[str | None, doc(
        "externalName is the external reference that discovery mechanisms will return as an alias for this "
        "service (e.g. a DNS CNAME record).")] = None
    externalTrafficPolicy: Annotated[str | None, doc(
        "externalTrafficPolicy describes how nodes distribute service traffic they receive on one of the "
        "Service's \"externally-facing\" addresses (NodePorts, ExternalIPs, and LoadBalancer IPs).")] = None
    healthCheckNodePort: Annotated[int | None, doc(
        "healthCheckNodePort specifies the healthcheck nodePort for the service.")] = None
    publishNotReadyAddresses: Annotated[bool | None, doc(
        "publishNotReadyAddresses indicates that any agent which deals with endpoints for this Service should "
        "disregard any indications of ready/not-ready.")] = None
    sessionAffinityConfig: Annotated[SessionAffinityConfig | None, doc(
        "sessionAffinityConfig contains the configurations of session affinity.")] = None
    ipFamilies: Annotated[list[str] | None, atomic_list(
        "IPFamilies is a list of IP families (e.g. IPv4, IPv6) assigned to this service.")] = None
    ipFamilyPolicy: Annotated[str | None, doc(
        "IPFamilyPolicy represents the dual-stack-ness requested or required by this Service.")] = None
    allocateLoadBalancerNodePorts: Annotated[bool | None, doc(
        "allocateLoadBalancerNodePorts defines if NodePorts will be automatically allocated for services with "
        "type LoadBalancer.")] = None
    loadBalancerClass: Annotated[str | None, doc(
        "loadBalancerClass is the class of the load balancer implementation this Service belongs to.")] = None
    internalTrafficPolicy: Annotated[str | None, doc(
        "InternalTrafficPolicy describes how nodes distribute service traffic they receive on the ClusterIP.")] \
        = None
    trafficDistribution: Annotated[str | None, doc(
        "TrafficDistribution offers a way to express preferences for how traffic is distributed to Service "
        "endpoints.")] = None


class PortStatus(Base, kw_only=True):
    """PortStatus represents the error condition of a service port."""

    port: Annotated[int | None, doc("Port is the port number of the service port of which status is recorded "
                                    "here")] = None
    protocol: Annotated[str | None, doc("Protocol is the protocol of the service port of which status is "
                                        "recorded here")] = None
    error: Annotated[str | None, doc("Error is to record the problem with the service port")] = None


class LoadBalancerIngress(Base, kw_only=True):
    """LoadBalancerIngress represents the status of a load-balancer ingress point."""

    ip: Annotated[str | None, doc("IP is set for load-balancer ingress points that are IP based.")] = None
    hostname: Annotated[str | None, doc(
        "Hostname is set for load-balancer ingress points that are DNS based.")] = None
    ipMode: Annotated[str | None, doc("IPMode specifies how the load-balancer IP behaves.")] = None
    ports: Annotated[list[PortStatus] | None, atomic_list(
        "Ports is a list of records of service ports")] = None


class LoadBalancerStatus(Base, kw_only=True):
    """LoadBalancerStatus represents the status of a load-balancer."""

    ingress: Annotated[list[LoadBalancerIngress] | None, atomic_list(
        "Ingress is a list containing ingress points for the load-balancer.")] = None


class ServiceStatus(Base, kw_only=True):
    """ServiceStatus represents the current status of a service."""

    loadBalancer: Annotated[LoadBalancerStatus | None, doc(
        "LoadBalancer contains the current status of the load-balancer, if one is present.")] = None
    conditions: Annotated[list[Any] | None, map_list("Current service state", "type")] = None


class Service(Base, kw_only=True):
    """Service is a named abstraction of software service (for example, mysql) consisting of local port
    (for example 3306) that the proxy listens on, and the selector that determines which pods will answer
    requests sent through the proxy."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[ServiceSpec | None, doc("Spec defines the behavior of a service.")] = None
    status: Annotated[ServiceStatus | None, doc("Most recently observed status of the service.")] = None


class ServiceList(Base, kw_only=True):
    """ServiceList holds a list of services."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[Service] | None, doc("List of services")] = None


class EndpointAddress(Base, kw_only=True):
    """EndpointAddress is a tuple that describes single IP address."""

    ip: Annotated[str | None, doc("The IP of this endpoint.")] = None
    hostname: Annotated[str | None, doc("The Hostname of this endpoint")] = None
    nodeName: Annotated[str | None, doc(
        "Optional: Node hosting this endpoint. This can be used to determine endpoints local to a node.")] = None
    targetRef: Annotated[ObjectReference | None, doc("Reference to object providing the endpoint.")] = None


class EndpointPort(Base, kw_only=True):
    """EndpointPort is a tuple that describes a single port."""

    name: Annotated[str | None, doc("The name of this port.")] = None
    port: Annotated[int | None, doc("The port number of the endpoint.")] = None
    protocol: Annotated[str | None, doc("The IP protocol for this port.")] = None
    appProtocol: Annotated[str | None, doc("The application protocol for this port.")] = None


class EndpointSubset(Base, kw_only=True):
    """EndpointSubset is a group of addresses with a common set of ports."""

    addresses: Annotated[list[EndpointAddress] | None, atomic_list(
        "IP addresses which offer the related ports that are marked as ready.")] = None
    notReadyAddresses: Annotated[list[EndpointAddress] | None, atomic_list(
        "IP addresses which offer the related ports but are not currently marked as ready because they have "
        "not yet finished starting, have recently failed a readiness check, or have recently failed a liveness "
        "check.")] = None
    ports: Annotated[list[EndpointPort] | None, atomic_list(
        "Port numbers available on the related IP addresses.")] = None


class Endpoints(Base, kw_only=True):
    """Endpoints is a collection of endpoints that implement the actual service."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    subsets: Annotated[list[EndpointSubset] | None, atomic_list(
        "The set of all endpoints is the union of all subsets.")] = None


class EndpointsList(Base, kw_only=True):
    """EndpointsList is a list of endpoints."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[Endpoints] | None, doc("List of endpoints.")] = None


class EndpointConditions(Base, kw_only=True):
    """EndpointConditions represents the current condition of an endpoint."""

    ready: Annotated[bool | None, doc("ready indicates that this endpoint is ready to receive traffic, "
                                      "according to whatever system is managing the endpoint.")] = None
    serving: Annotated[bool | None, doc("serving indicates that this endpoint is able to receive traffic, "
                                        "according to whatever system is managing the endpoint.")] = None
    terminating: Annotated[bool | None, doc("terminating indicates that this endpoint is terminating.")] = None


class ForZone(Base, kw_only=True):
    """ForZone provides information about which zones should consume this endpoint."""

    name: Annotated[str | None, doc("name represents the name of the zone.")] = None


class ForNode(Base, kw_only=True):
    """ForNode provides information about which nodes should consume this endpoint."""

    name: Annotated[str | None, doc("name represents the name of the node.")] = None


class EndpointHints(Base, kw_only=True):
    """EndpointHints provides hints describing how an endpoint should be consumed."""

    forZones: Annotated[list[ForZone] | None, atomic_list(
        "forZones indicates the zone(s) this endpoint should be consumed by when using topology aware "
        "routing.")] = None
    forNodes: Annotated[list[ForNode] | None, atomic_list(
        "forNodes indicates the node(s) this endpoint should be consumed by when using topology aware "
        "routing.")] = None


class Endpoint(Base, kw_only=True):
    """Endpoint represents a single logical "backend" implementing a service."""

    addresses: Annotated[list[str] | None, set_list("addresses of this endpoint.")] = None
    conditions: Annotated[EndpointConditions | None, doc(
        "conditions contains information about the current status of the endpoint.")] = None
    hostname: Annotated[str | None, doc("hostname of this endpoint.")] = None
    targetRef: Annotated[ObjectReference | None, doc(
        "targetRef is a reference to a Kubernetes object that represents this endpoint.")] = None
    deprecatedTopology: Annotated[dict[str, str] | None, doc(
        "deprecatedTopology contains topology information part of the v1beta1 API.")] = None
    nodeName: Annotated[str | None, doc(
        "nodeName represents the name of the Node hosting this endpoint.")] = None
    zone: Annotated[str | None, doc("zone is the name of the Zone this endpoint exists in.")] = None
    hints: Annotated[EndpointHints | None, doc(
        "hints contains information associated with how an endpoint should be consumed.")] = None


class EndpointSlice(Base, kw_only=True):
    """EndpointSlice represents a set of service endpoints."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    addressType: Annotated[str | None, doc(
        "addressType specifies the type of address carried by this EndpointSlice.")] = None
    endpoints: Annotated[list[Endpoint] | None, atomic_list(
        "endpoints is a list of unique endpoints in this slice.")] = None
    ports: Annotated[list[EndpointPort] | None, atomic_list(
        "ports specifies the list of network ports exposed by each endpoint in this slice.")] = None


class EndpointSliceList(Base, kw_only=True):
    """EndpointSliceList represents a list of endpoint slices"""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[EndpointSlice] | None, doc("items is the list of endpoint slices")] = None


DISCOVERY_V1: tuple[type[Base], ...] = (
    EndpointConditions, ForZone, ForNode, EndpointHints, Endpoint, EndpointSlice, EndpointSliceList,
)


# ---------------------------------------------------------------------------------------------------
# networking.k8s.io/v1 Ingress and IngressClass

class ServiceBackendPort(Base, kw_only=True):
    """ServiceBackendPort is the service port being referenced."""

    name: Annotated[str | None, doc("name is the name of the port on the Service.")] = None
    number: Annotated[int | None, doc("number is the numerical port number (e.g. 80) on the Service.")] = None


class IngressServiceBackend(Base, kw_only=True):
    """IngressServiceBackend references a Kubernetes Service as a Backend."""

    name: Annotated[str | None, doc("name is the referenced service.")] = None
    port: Annotated[ServiceBackendPort | None, doc("port of the referenced service.")] = None


class TypedLocalObjectReference(Base, kw_only=True):
    """TypedLocalObjectReference contains enough information to let you locate the typed referenced object
    inside the same namespace."""

    apiGroup: Annotated[str | None, doc("APIGroup is the group for the resource being referenced.")] = None
    kind: Annotated[str | None, doc("Kind is the type of resource being referenced")] = None
    name: Annotated[str | None, doc("Name is the name of resource being referenced")] = None


class IngressBackend(Base, kw_only=True):
    """IngressBackend describes all endpoints for a given service and port."""

    service: Annotated[IngressServiceBackend | None, doc(
        "service references a service as a backend.")] = None
    resource: Annotated[TypedLocalObjectReference | None, doc(
        "resource is an ObjectRef to another Kubernetes resource in the namespace of the Ingress object.")] = None


class HTTPIngressPath(Base, kw_only=True):
    """HTTPIngressPath associates a path with a backend."""

    path: Annotated[str | None, doc("path is matched against the path of an incoming request.")] = None
    pathType: Annotated[str | None, doc("pathType determines the interpretation of the path matching.")] = None
    backend: Annotated[IngressBackend | None, doc(
        "backend defines the referenced service endpoint to which the traffic will be forwarded to.")] = None


class HTTPIngressRuleValue(Base, kw_only=True):
    """HTTPIngressRuleValue is a list of http selectors pointing to backends."""

    paths: Annotated[list[HTTPIngressPath] | None, atomic_list(
        "paths is a collection of paths that map requests to backends.")] = None


class IngressRule(Base, kw_only=True):
    """IngressRule represents the rules mapping the paths under a specified host to the related backend
    services."""

    host: Annotated[str | None, doc("host is the fully qualified domain name of a network host, as defined by "
                                    "RFC 3986.")] = None
    http: Annotated[HTTPIngressRuleValue | None, doc(
        "HTTPIngressRuleValue is a list of http selectors pointing to backends.")] = None


class IngressTLS(Base, kw_only=True):
    """IngressTLS describes the transport layer security associated with an ingress."""

    hosts: Annotated[list[str] | None, atomic_list(
        "hosts is a list of hosts included in the TLS certificate.")] = None
    secretName: Annotated[str | None, doc(
        "secretName is the name of the secret used to terminate TLS traffic on port 443.")] = None


class IngressSpec(Base, kw_only=True):
    """IngressSpec describes the Ingress the user wishes to exist."""

    ingressClassName: Annotated[str | None, doc(
        "ingressClassName is the name of an IngressClass cluster resource.")] = None
    defaultBackend: Annotated[IngressBackend | None, doc(
        "defaultBackend is the backend that should handle requests that don't match any rule.")] = None
    tls: Annotated[list[IngressTLS] | None, atomic_list("tls represents the TLS configuration.")] = None
    rules: Annotated[list[IngressRule] | None, atomic_list(
        "rules is a list of host rules used to configure the Ingress.")] = None


class IngressPortStatus(Base, kw_only=True):
    """IngressPortStatus represents the error condition of a service port"""

    port: Annotated[int | None, doc("port is the port number of the ingress port.")] = None
    protocol: Annotated[str | None, doc("protocol is the protocol of the ingress port.")] = None
    error: Annotated[str | None, doc("error is to record the problem with the service port")] = None


class IngressLoadBalancerIngress(Base, kw_only=True):
    """IngressLoadBalancerIngress represents the status of a load-balancer ingress point."""

    ip: Annotated[str | None, doc("ip is set for load-balancer ingress points that are IP based.")] = None
    hostname: Annotated[str | None, doc(
        "hostname is set for load-balancer ingress points that are DNS based.")] = None
    ports: Annotated[list[IngressPortStatus] | None, atomic_list(
        "ports provides information about the ports exposed by this LoadBalancer.")] = None


class IngressLoadBalancerStatus(Base, kw_only=True):
    """IngressLoadBalancerStatus represents the status of a load-balancer."""

    ingress: Annotated[list[IngressLoadBalancerIngress] | None, atomic_list(
        "ingress is a list containing ingress points for the load-balancer.")] = None


class IngressStatus(Base, kw_only=True):
    """IngressStatus describe the current state of the Ingress."""

    loadBalancer: Annotated[IngressLoadBalancerStatus | None, doc(
        "loadBalancer contains the current status of the load-balancer.")] = None


class Ingress(Base, kw_only=True):
    """Ingress is a collection of rules that allow inbound connections to reach the endpoints defined by a
    backend."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[IngressSpec | None, doc("spec is the desired state of the Ingress.")] = None
    status: Annotated[IngressStatus | None, doc("status is the current state of the Ingress.")] = None


class IngressList(Base, kw_only=True):
    """IngressList is a collection of Ingress."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[Ingress] | None, doc("items is the list of Ingress.")] = None


class IngressClassParametersReference(Base, kw_only=True):
    """IngressClassParametersReference identifies an API object."""

    apiGroup: Annotated[str | None, doc("apiGroup is the group for the resource being referenced.")] = None
    kind: Annotated[str | None, doc("kind is the type of resource being referenced.")] = None
    name: Annotated[str | None, doc("name is the name of resource being referenced.")] = None
    scope: Annotated[str | None, doc(
        "scope represents if this refers to a cluster or namespace scoped resource.")] = None
    namespace: Annotated[str | None, doc(
        "namespace is the namespace of the resource being referenced.")] = None


class IngressClassSpec(Base, kw_only=True):
    """IngressClassSpec provides information about the class of an Ingress."""

    controller: Annotated[str | None, doc(
        "controller refers to the name of the controller that should handle this class.")] = None
    parameters: Annotated[IngressClassParametersReference | None, doc(
        "parameters is a link to a custom resource containing additional configuration for the controller.")] \
        = None


class IngressClass(Base, kw_only=True):
    """IngressClass represents the class of the Ingress, referenced by the Ingress Spec."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ObjectMeta | None, doc("Standard object's metadata.")] = None
    spec: Annotated[IngressClassSpec | None, doc("spec is the desired state of the IngressClass.")] = None


class IngressClassList(Base, kw_only=True):
    """IngressClassList is a collection of IngressClasses."""

    kind: str | None = None
    apiVersion: str | None = None
    metadata: Annotated[ListMeta | None, _LIST_META] = None
    items: Annotated[list[IngressClass] | None, doc("items is the list of IngressClasses.")] = None


NETWORKING_V1: tuple[type[Base], ...] = (
    ServiceBackendPort, IngressServiceBackend, IngressBackend, HTTPIngressPath, HTTPIngressRuleValue, IngressRule,
    IngressTLS, IngressSpec, IngressPortStatus, IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus,
    Ingress, IngressList, IngressClassParametersReference, IngressClassSpec, IngressClass, IngressClassList,
)
