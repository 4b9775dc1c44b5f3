"""Layer 2 of the guide (静态模型): the community CIM — register, geometry, levels, exchange."""
