"""The local AWS stack: moto, the template's resources, Lambda's worker runtime and SQS event source.

Start with local.aws.stack (``local_aws`` / ``LocalAws.provision``); README.md, "Local tooling", maps
the modules.
"""
