"""The Qt binding must not leak references to None: PySide6 6.12.0 on CPython < 3.12 takes one
reference from None on every void call (`setText`, `setToolTip`, ...) and the app aborts with
"none_dealloc" after a few minutes of reviewing. pyproject.toml excludes that release; this test
fails on any binding with the same bug."""

import sys


def test_void_qt_calls_leave_none_refcount_alone(qapp):
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QLabel

    class Emitter(QObject):
        fired = Signal(bool)

    label, emitter = QLabel(), Emitter()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(2000):
        label.setText("x")
        label.setToolTip("y")
        emitter.fired.emit(True)
    assert abs(none_before - sys.getrefcount(None)) < 200
    assert abs(true_before - sys.getrefcount(True)) < 200
