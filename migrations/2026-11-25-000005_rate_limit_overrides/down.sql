DROP TABLE rate_limit_overrides;
