"""What several engines share, below all of them (engines never import each other).

Modules: ``checkpoint`` (finding a transformers checkpoint on disk or the hub,
its processor, device and dtype), ``template`` (a conversation as chat-template
messages, and a checkpoint's template rendered), ``thinking`` (a thinking model
recognised from a checkpoint's template, with its tokenizer), ``guide`` (one
choice's forced tokens, grammar mask and thinking tracker around each sampled
token, for the engines that sample themselves).
"""
