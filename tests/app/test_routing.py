"""Deep links route through app.py on a fresh server: the one private Streamlit API we rely on."""

from __future__ import annotations

from streamlit.runtime.pages_manager import PagesManager


def test_the_private_pages_manager_switch_still_exists():
    """``app_support.state.route_through_app`` turns off Streamlit's old pages/ folder mode by
    setting this class attribute. This test fails the day Streamlit renames or removes it; then
    look for a public replacement (``st.navigation`` sets the same attribute itself)."""
    assert "uses_pages_directory" in vars(PagesManager)
    import inspect

    import streamlit.commands.navigation as navigation

    assert "PagesManager.uses_pages_directory = False" in inspect.getsource(navigation)
