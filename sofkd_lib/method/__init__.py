"""The paper's method: Table 1's variants declared as data, and one function per loss equation."""
