"""A library error on a page: one line, no traceback; the page stops or carries on as asked."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page(stop: bool) -> None:
    import streamlit as st

    from app_support.guard import shown_errors
    from cropviz.errors import DatasetError

    st.session_state["stop"] = stop
    with shown_errors("Cannot read parcel 7", stop=st.session_state["stop"]):
        raise DatasetError("frh04.csv", "parcel 7 is not in the index")
    st.write("after the error")


def _crash() -> None:
    from app_support.guard import shown_errors

    with shown_errors():
        raise ValueError("not a cropviz error")


def test_an_error_is_one_line_and_stops_the_page():
    at = AppTest.from_function(_page, args=(True,)).run()
    assert [e.value for e in at.error] == ["Cannot read parcel 7: frh04.csv: parcel 7 is not in the index"]
    assert not at.exception and not at.markdown


def test_the_page_carries_on_when_asked():
    at = AppTest.from_function(_page, args=(False,)).run()
    assert len(at.error) == 1 and [m.value for m in at.markdown] == ["after the error"]


def test_other_errors_are_not_hidden():
    at = AppTest.from_function(_crash).run()
    assert at.exception and "not a cropviz error" in at.exception[0].message
