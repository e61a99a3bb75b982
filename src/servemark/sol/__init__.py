"""Speed of light: hardware catalogue, model specs from HF config.json, the four-resource
breakdown, strict and calibrated SOL frontiers, and measured / SOL for stored points.

Entry points other stages use::

    from servemark.sol.hardware import load_catalogue, Accelerator
    from servemark.modelspec.architecture import ModelArchitecture, load_architecture
    from servemark.sol.frontier import sol_frontier
    from servemark.sol.decode_bound import decode_step_floor_s, max_decode_intvty

See docs/sol.md for the model, its assumptions and its measured error.
"""
