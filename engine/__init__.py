"""Trade Engine: a price-time order-matching engine on Redis sorted sets and Lua."""
