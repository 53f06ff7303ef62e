"""The public API (BFF): the one door users reach. It authenticates, authorises, limits and
validates, then sends commands to the contexts and composes answers from their read sides."""
