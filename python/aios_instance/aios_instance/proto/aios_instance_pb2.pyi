from . import aios_packet_pb2 as _aios_packet_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InferRequest(_message.Message):
    __slots__ = ("packet",)
    PACKET_FIELD_NUMBER: _ClassVar[int]
    packet: _aios_packet_pb2.AIOSPacket
    def __init__(self, packet: _Optional[_Union[_aios_packet_pb2.AIOSPacket, _Mapping]] = ...) -> None: ...

class InferReply(_message.Message):
    __slots__ = ("outputs",)
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[_aios_packet_pb2.AIOSPacket]
    def __init__(self, outputs: _Optional[_Iterable[_Union[_aios_packet_pb2.AIOSPacket, _Mapping]]] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthReply(_message.Message):
    __slots__ = ("status", "details_json")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    status: str
    details_json: str
    def __init__(self, status: _Optional[str] = ..., details_json: _Optional[str] = ...) -> None: ...

class ManageRequest(_message.Message):
    __slots__ = ("action", "data_json")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    action: str
    data_json: str
    def __init__(self, action: _Optional[str] = ..., data_json: _Optional[str] = ...) -> None: ...

class ManageReply(_message.Message):
    __slots__ = ("result_json",)
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    result_json: str
    def __init__(self, result_json: _Optional[str] = ...) -> None: ...

class UpdateParametersRequest(_message.Message):
    __slots__ = ("parameters_json",)
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    parameters_json: str
    def __init__(self, parameters_json: _Optional[str] = ...) -> None: ...

class UpdateParametersReply(_message.Message):
    __slots__ = ("parameters_json", "result_json")
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    parameters_json: str
    result_json: str
    def __init__(self, parameters_json: _Optional[str] = ..., result_json: _Optional[str] = ...) -> None: ...
