"""The phone-first Streamlit page, a thin client of the aggregator API."""
