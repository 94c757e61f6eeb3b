from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
SERVICE_FIELD_NUMBER: _ClassVar[int]
service: _descriptor.FieldDescriptor
METHOD_FIELD_NUMBER: _ClassVar[int]
method: _descriptor.FieldDescriptor
EVENTS_FIELD_NUMBER: _ClassVar[int]
events: _descriptor.FieldDescriptor
EVENT_FIELD_NUMBER: _ClassVar[int]
event: _descriptor.FieldDescriptor

class ServiceOptions(_message.Message):
    __slots__ = ("name", "version", "description", "subject_group", "queue_group", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_GROUP_FIELD_NUMBER: _ClassVar[int]
    QUEUE_GROUP_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    description: str
    subject_group: str
    queue_group: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., subject_group: _Optional[str] = ..., queue_group: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class MethodOptions(_message.Message):
    __slots__ = ("subject", "timeout", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    subject: str
    timeout: _duration_pb2.Duration
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, subject: _Optional[str] = ..., timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class EventsOptions(_message.Message):
    __slots__ = ("stream", "retention", "storage", "replicas", "max_age", "duplicate_window")
    class Retention(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RETENTION_UNSPECIFIED: _ClassVar[EventsOptions.Retention]
        LIMITS: _ClassVar[EventsOptions.Retention]
        INTEREST: _ClassVar[EventsOptions.Retention]
        WORK_QUEUE: _ClassVar[EventsOptions.Retention]
    RETENTION_UNSPECIFIED: EventsOptions.Retention
    LIMITS: EventsOptions.Retention
    INTEREST: EventsOptions.Retention
    WORK_QUEUE: EventsOptions.Retention
    class Storage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STORAGE_UNSPECIFIED: _ClassVar[EventsOptions.Storage]
        FILE: _ClassVar[EventsOptions.Storage]
        MEMORY: _ClassVar[EventsOptions.Storage]
    STORAGE_UNSPECIFIED: EventsOptions.Storage
    FILE: EventsOptions.Storage
    MEMORY: EventsOptions.Storage
    STREAM_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    stream: str
    retention: EventsOptions.Retention
    storage: EventsOptions.Storage
    replicas: int
    max_age: _duration_pb2.Duration
    duplicate_window: _duration_pb2.Duration
    def __init__(self, stream: _Optional[str] = ..., retention: _Optional[_Union[EventsOptions.Retention, str]] = ..., storage: _Optional[_Union[EventsOptions.Storage, str]] = ..., replicas: _Optional[int] = ..., max_age: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., duplicate_window: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class EventOptions(_message.Message):
    __slots__ = ("subject", "id_field", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    subject: str
    id_field: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, subject: _Optional[str] = ..., id_field: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...
