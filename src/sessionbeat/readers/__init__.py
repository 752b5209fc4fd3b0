"""What a person runs to read the live state: sessions, tail and doctor.

With the HTTP client and the text rendering they (and the page) share.
"""
