"""What happens to a fulfilment after orchestration created it, one module per kind of
event: ``steps`` (a shop starts, picks, packs, ships or declines its task; a warehouse
reports what it shipped), ``exports`` (sending to warehouses), ``cancellations`` (by a
client, of an order line, by a passed deadline) and ``receiving`` (what arrives of a
return); ``common`` holds what they share (locking, ending units, settling a status).

This package re-exports nothing: import each name from the module that defines it.
Whatever leaves order lines unfulfilled asks for them to be routed again
(``order_orchestration_request``); the engine then keeps the supplier out from the
history (a shop that cancelled never gets those lines again).
"""
