"""Streamlit entry script of the dashboard (``streamlit run`` this file; see cli.py)."""

from sessionbeat.dashboard.page import main

main()
