"""What dovesnap shows of itself: status JSON and the HTTP server that serves it."""
