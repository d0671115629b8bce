"""Model, tokenizer and PEFT loading, and the built-in tiny models."""
