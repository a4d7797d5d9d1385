"""What the suite exchanges with the world outside it: warehouse exporters, HTTP
delivery (exports, webhooks), return documents (PDF, QR), the sheet language's
Pygments lexer, and the configured route provider. Each module says which
setting configures it; none holds a business rule (services decide, these carry).
"""
