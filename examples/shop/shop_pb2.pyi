from google.protobuf import empty_pb2 as _empty_pb2
from natsrpc import options_pb2 as _options_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PlaceOrderRequest(_message.Message):
    __slots__ = ("customer_id", "amount_cents")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    amount_cents: int
    def __init__(self, customer_id: _Optional[str] = ..., amount_cents: _Optional[int] = ...) -> None: ...

class PlaceOrderReply(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class ShipOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class ShipOrderReply(_message.Message):
    __slots__ = ("shipment_id",)
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    shipment_id: str
    def __init__(self, shipment_id: _Optional[str] = ...) -> None: ...

class OrderPlaced(_message.Message):
    __slots__ = ("event_id", "order_id", "customer_id", "amount_cents")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    order_id: str
    customer_id: str
    amount_cents: int
    def __init__(self, event_id: _Optional[str] = ..., order_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., amount_cents: _Optional[int] = ...) -> None: ...

class OrderShipped(_message.Message):
    __slots__ = ("event_id", "order_id", "shipment_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    order_id: str
    shipment_id: str
    def __init__(self, event_id: _Optional[str] = ..., order_id: _Optional[str] = ..., shipment_id: _Optional[str] = ...) -> None: ...

class ShipmentRequested(_message.Message):
    __slots__ = ("shipment_id", "order_id")
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    shipment_id: str
    order_id: str
    def __init__(self, shipment_id: _Optional[str] = ..., order_id: _Optional[str] = ...) -> None: ...
