package event

// reasonLoneSurrogate refuses an attribute holding a \u escape of a UTF-16
// surrogate without its pair (jsonscan.LoneSurrogate).
const reasonLoneSurrogate = "holds a lone UTF-16 surrogate escape (\\ud800 to \\udfff without its pair), which is not Unicode text"
