"""Framework-free protocol codecs: request parameters -> Query, Page -> response body."""
