"""The look: Fusion style, a calm light palette, one accent colour, and a small QSS.

Colours that views draw with themselves (badges, charts) come from here too, so every screen
speaks the same colour language: a review status always has the same colour.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#2f6fde"
ACCENT_DARK = "#2458b3"
WINDOW = "#f4f5f7"
BASE = "#ffffff"
ALT_BASE = "#f7f8fa"
TEXT = "#1d2330"
MUTED = "#6b7385"
BORDER = "#d9dce3"
NAV_BG = "#1f2533"
NAV_TEXT = "#c9d0de"

# review status -> badge colour (desktop-wide; review/audit screens may import it)
STATUS_COLORS: dict[str, str] = {
    "unreviewed": "#8a93a6",
    "predicted": "#2f6fde",
    "accepted": "#23a26d",
    "corrected": "#d08a1a",
    "rejected": "#d64545",
    "uncertain": "#8e59c9",
    "confirmed_negative": "#4d5566",
    "error": "#d64545",
    "missing": "#d64545",
}

# a qualitative palette for classes / attributes (colour i % len)
SERIES = [
    "#2f6fde", "#e8793a", "#23a26d", "#d64545", "#8e59c9",
    "#1a9fb5", "#c2a01a", "#d4548f", "#5b6b8c", "#7cae2f",
]


def series_color(i: int) -> QColor:
    return QColor(SERIES[i % len(SERIES)])


QSS = f"""
QMainWindow, QDialog {{ background: {WINDOW}; }}
QListWidget#nav {{
    background: {NAV_BG}; color: {NAV_TEXT}; border: none; outline: none;
    font-size: 10.5pt; padding-top: 8px;
}}
QListWidget#nav::item {{ padding: 10px 16px; border-left: 3px solid transparent; }}
QListWidget#nav::item:selected {{ background: #2c3446; color: white; border-left: 3px solid {ACCENT}; }}
QListWidget#nav::item:hover:!selected {{ background: #272e3e; }}
QListWidget#nav:disabled {{ color: #586073; }}
QListWidget#recent {{ border: 1px solid {BORDER}; border-radius: 4px; }}
QListWidget#recent::item {{ padding: 6px 4px; border-bottom: 1px solid #eef0f4; }}
QListWidget#recent::item:hover {{ background: #f0f4fc; }}
QListWidget#recent::item:selected {{ background: {ACCENT}; color: white; }}
QLabel#navTitle {{ background: {NAV_BG}; color: white; font-weight: 600; font-size: 12pt; padding: 14px 16px 4px 16px; }}
QLabel#navProject {{ background: {NAV_BG}; color: {NAV_TEXT}; padding: 0 16px 10px 16px; }}
QLabel#screenTitle {{ font-size: 14pt; font-weight: 600; color: {TEXT}; }}
QLabel#muted {{ color: {MUTED}; }}
QFrame#card {{ background: {BASE}; border: 1px solid {BORDER}; border-radius: 6px; }}
QPushButton {{
    padding: 5px 12px; border: 1px solid {BORDER}; border-radius: 4px; background: {BASE};
}}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:disabled {{ color: #a0a6b3; }}
QPushButton#primary {{ background: {ACCENT}; color: white; border-color: {ACCENT}; font-weight: 600; }}
QPushButton#primary:hover {{ background: {ACCENT_DARK}; }}
QPushButton#primary:disabled {{ background: #9db7e8; border-color: #9db7e8; }}
QLineEdit {{ padding: 3px 6px; border: 1px solid {BORDER}; border-radius: 4px; background: {BASE}; }}
QLineEdit:focus {{ border-color: {ACCENT}; }}
QListView#grid {{ background: {BASE}; border: 1px solid {BORDER}; border-radius: 4px; }}
QProgressBar {{ border: 1px solid {BORDER}; border-radius: 4px; background: {BASE}; text-align: center; height: 16px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QStatusBar {{ background: {BASE}; border-top: 1px solid {BORDER}; }}
QStatusBar QLabel {{ padding: 0 6px; }}
QToolTip {{ background: {NAV_BG}; color: white; border: none; padding: 4px; }}
"""


def apply_style(app: QApplication) -> None:
    """Fusion + light palette + QSS; call once after the QApplication exists."""
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: WINDOW,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: ALT_BASE,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: BASE,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: NAV_BG,
        QPalette.ColorRole.ToolTipText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: MUTED,
        QPalette.ColorRole.Link: ACCENT,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#a0a6b3"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#a0a6b3"))
    app.setPalette(pal)
    font = QFont(app.font())
    if font.pointSizeF() < 9.5:
        font.setPointSizeF(9.5)
    app.setFont(font)
    app.setStyleSheet(QSS)
