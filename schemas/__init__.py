"""marshmallow schemas: the single definition of every payload and of the OpenAPI spec."""
