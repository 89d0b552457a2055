//! Apply engine tests.
