"""Daily feeds: orders and sale lines, one landing file per day and partition."""
