"""cropviz.viz"""
