"""Pure loyalty rules: no clock, no I/O. Everything here is a function of a program and inputs.

The engine's records are dataclasses declared with ``init=False`` and an ``__init__`` written out.
The compiled build (mypyc) compiles a written ``__init__``; the one ``@dataclass`` generates runs
as interpreted code, and sets each field of a frozen one through ``object.__setattr__``: a ledger
entry took ~1.1 us to make that way against ~40 ns now. Fields that never change are ``Final``
(mypy refuses an assignment, and so does the compiled build at run time), which is what
``frozen=True`` gave.
"""
