import streamlit as st

st.title("early")
st.info("Being built.")
