package devrun

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// lambdaAPI serves the Lambda Invoke API for the template's functions, as
// sam local start-lambda does, so a function that invokes another (or
// itself, asynchronously) reaches it locally through AWS_ENDPOINT_URL_LAMBDA.
type lambdaAPI struct {
	r        *Runtime
	server   *http.Server
	listener net.Listener
	ctx      context.Context // ends asynchronous invocations on Close
}

func (r *Runtime) startLambdaAPI(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	api := &lambdaAPI{r: r, listener: ln, ctx: ctx}
	api.server = &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	r.lambda = api
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := api.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.printf("lambda api stopped: %v", err)
		}
	}()
	return nil
}

func (a *lambdaAPI) url() string { return "http://" + a.listener.Addr().String() }

// ServeHTTP handles POST /2015-03-31/functions/{name}/invocations.
func (a *lambdaAPI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	name, ok := strings.CutPrefix(req.URL.Path, "/2015-03-31/functions/")
	name, ok2 := strings.CutSuffix(name, "/invocations")
	if req.Method != http.MethodPost || !ok || !ok2 {
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
		return
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 { // an ARN
		name = name[i+1:]
	}
	fn, ok := a.r.functions[name]
	if !ok {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		http.Error(w, `{"Type":"User","message":"Function not found: `+name+`"}`, http.StatusNotFound)
		return
	}
	payload, err := io.ReadAll(io.LimitReader(req.Body, 6<<20+1))
	if err != nil {
		http.Error(w, `{"message":"cannot read the payload"}`, http.StatusBadRequest)
		return
	}
	switch req.Header.Get("X-Amz-Invocation-Type") {
	case "Event":
		a.r.wg.Add(1)
		go func() {
			defer a.r.wg.Done()
			res, err := fn.Invoke(a.ctx, payload)
			a.r.printResult(name, "async", res, err)
		}()
		w.WriteHeader(http.StatusAccepted)
	case "", "RequestResponse":
		res, err := fn.Invoke(req.Context(), payload)
		if err != nil {
			http.Error(w, `{"message":"the function could not be reached"}`, http.StatusBadGateway)
			return
		}
		if res.FunctionError != "" {
			w.Header().Set("X-Amz-Function-Error", res.FunctionError)
		}
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		_, _ = w.Write(res.Payload)
	default:
		http.Error(w, `{"message":"InvocationType must be Event or RequestResponse"}`, http.StatusBadRequest)
	}
}
