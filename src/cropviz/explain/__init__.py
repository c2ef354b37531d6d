"""cropviz.explain"""
