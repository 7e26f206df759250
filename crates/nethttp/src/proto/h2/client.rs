//! The client side of HTTP/2 connections (filled in with the client pool).
