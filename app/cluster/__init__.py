"""Cluster mode: device-partitioned replicas over NATS JetStream (docs/CLUSTER.md).

- :mod:`app.cluster.bus`: the stream of readings (subjects ``gasleak.readings.<p>``), the
  lease bucket and the event notifications, on one NATS connection.
- :mod:`app.cluster.node`: partition leases, the owner's consumers, hand-over.
- :mod:`app.cluster.follower`: every replica's hub learns all stored events in id order.

Single-node mode (the default) imports none of this.
"""
