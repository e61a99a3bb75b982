"""One model architecture spec: the HF ``config.json`` parser and the preset catalogue.

Both model synthesis (``servemark model synth``, :mod:`servemark.models.arch`) and the
speed-of-light model (:mod:`servemark.sol`) read architectures here, so a config is parsed one
way and a preset name means one checkpoint. This package imports nothing from other stages.

    from servemark.modelspec.catalogue import resolve_config, canonical_name, PRESETS
    from servemark.modelspec.shape import read_shape          # the counts every consumer needs
    from servemark.modelspec.architecture import ModelArchitecture, load_architecture
"""
