"""F5 BIG-IP: connection, want/have diff, imperative push (f5-sdk), AS3."""
