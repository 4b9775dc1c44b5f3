"""Rules, alarms and linkage (规则、告警与联动): rules as data, their stateful evaluation, and
linkage templates as data. Database-free: the sensing runtime feeds messages and time in and
persists the engine's snapshot."""
