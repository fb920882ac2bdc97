"""Enum members and helper answers equal OneTrainer's."""
from __future__ import annotations

import json

import modules.config.enums as enums


def _reference(reference_dir):
    return json.loads((reference_dir / 'enums.json').read_text())


def test_all_enums_and_members(reference_dir):
    data = _reference(reference_dir)
    items = data['enums'].items()
    assert len(items) == 29
    for name, entry in items:
        assert [m.value for m in getattr(enums, name)] == entry['values'], name


def test_helper_results(reference_dir):
    helpers = _reference(reference_dir)['evaluated_helpers']
    checked = 0
    for enum_name, results in helpers.items():
        enum = getattr(enums, enum_name)
        for helper, per_member in results.items():
            if helper == '__module_tables__':  # OneTrainer's lookup tables behind the helpers, not a helper
                continue
            name = helper.split('(')[0]
            for member_name, expected in per_member.items():
                member = enum[member_name]
                if name == 'supported_output_formats':
                    for method, formats in expected.items():
                        got = member.supported_output_formats(enums.TrainingMethod[method])
                        assert [f.value for f in got] == formats, (member_name, method)
                    checked += 1
                    continue
                attribute = getattr(member, name)
                got = attribute() if callable(attribute) else attribute
                if isinstance(got, list):
                    got = [g.value if isinstance(g, enums.ConfigEnum) else g for g in got]
                assert got == expected, (enum_name, name, member_name)
                checked += 1
    assert checked > 1000


def test_scalers_and_dtypes():
    assert enums.LossScaler.BOTH.get_scale(4, 3) == 12
    assert enums.LearningRateScaler.NONE.get_scale(4, 3) == 1
    assert enums.ModelFormat.DIFFUSERS.file_extension() == ''
    assert enums.Optimizer.PRODIGY.is_adaptive and not enums.Optimizer.ADAMW.is_adaptive
    assert enums.Optimizer.ADAMW.supports_fused_back_pass()
    assert str(enums.ModelType.SANA) == 'SANA'
