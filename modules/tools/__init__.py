"""Stand-alone tools (captioning, masking, video, conversion, sampling): no UI imports; each is also
a command line (`modules.cli.*`). Long operations report through a `ToolTask`."""
