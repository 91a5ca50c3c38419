"""XLA flags for the suite's JAX processes: no optimising passes.

The suite's programs are small and each is compiled once, so XLA's optimising
passes cost more than they save (the JAX run is about a fifth shorter without
them). `conftest.py` sets them for the test processes, and subprocesses that
set their own `XLA_FLAGS` add them too. Imports nothing, so that conftest can
read it before Keras loads JAX.
"""

FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
