"""Every message orderflow's workers exchange: the public API between them."""

from .base import REGISTRY, Message, Money, OrderLine, OrderMessage, contract_for
from .fulfillment import FulfillmentPacked, Parcel, ParcelItem
from .notifications import NotificationSent
from .orders import (
    Address,
    Channel,
    Customer,
    Delivery,
    DeliveryOption,
    OrderCancelled,
    OrderCompleted,
    OrderCompletionDue,
    OrderPlaced,
    OrderRejected,
    OrderSubmit,
    PaymentInstruction,
    PaymentMethod,
    Problem,
)
from .payment import PaymentCaptured, PaymentFailed
from .shipping import (
    CarrierTrackingUpdate,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentInTransit,
    TrackingStatus,
)
from .stock import (
    ReservedLine,
    Shortage,
    StockCommitted,
    StockReleased,
    StockReserved,
    StockUnavailable,
)

__all__ = [
    "REGISTRY",
    "Address",
    "CarrierTrackingUpdate",
    "Channel",
    "Customer",
    "Delivery",
    "DeliveryOption",
    "FulfillmentPacked",
    "Message",
    "Money",
    "NotificationSent",
    "OrderCancelled",
    "OrderCompleted",
    "OrderCompletionDue",
    "OrderLine",
    "OrderMessage",
    "OrderPlaced",
    "OrderRejected",
    "OrderSubmit",
    "Parcel",
    "ParcelItem",
    "PaymentCaptured",
    "PaymentFailed",
    "PaymentInstruction",
    "PaymentMethod",
    "Problem",
    "ReservedLine",
    "ShipmentDelivered",
    "ShipmentDeliveryFailed",
    "ShipmentDispatched",
    "ShipmentInTransit",
    "Shortage",
    "StockCommitted",
    "StockReleased",
    "StockReserved",
    "StockUnavailable",
    "TrackingStatus",
    "contract_for",
]
