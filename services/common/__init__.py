"""The domain ideas several services share (a shared kernel): identifiers and their check
characters, personal data and its masking, officers and the two-officers rule, and the
vocabulary of event types. Domain, not infrastructure: ``services.infra`` holds none of
this, and no service imports another service's modules for it."""
