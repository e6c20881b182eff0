"""`edge-spec bench`: speedup, tau and token identity of every mode on a prompt file.

prompts.py reads the prompt formats, modes.py runs one generation per mode, runner.py
interleaves the modes prompt by prompt, audit.py checks every output against plain decoding,
report.py summarises (JSON, table), plot.py draws, genai.py adds OpenVINO GenAI for comparison,
machine.py describes the machine. The library logs; only the CLI prints.
"""
